/**
 * The cells the Assist commands insert. They are ordinary `%%assist` cells, so the user sees
 * and can edit exactly what is asked, and the kernel-side magic does all the work.
 */

/**
 * Ask about a cell. An executed cell is referenced as `{In[n]}` (the magic interpolates it from
 * the kernel's history); an unexecuted one is pasted with interpolation off, so braces in the
 * code are sent literally.
 */
export function askAboutCellSource(source: string, executionCount: number | null): string {
  if (executionCount !== null) {
    return `%%assist\nExplain this code:\n{In[${executionCount}]}`;
  }
  return `%%assist --no-interpolate\nExplain this code:\n${source}`;
}

/** `%assist error` explains the last exception the kernel raised. */
export const EXPLAIN_ERROR_SOURCE = '%assist error';

/** Run silently before an Assist cell, so the commands work in a kernel that never loaded coassist. */
export const LOAD_MAGICS = '%load_ext coassist';
