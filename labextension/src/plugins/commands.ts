import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ICodeCellModel } from '@jupyterlab/cells';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

import { askAboutCellSource, EXPLAIN_ERROR_SOURCE, LOAD_MAGICS } from '../prompts';

export const ASK_ABOUT_CELL = 'coassist:ask-about-cell';
export const EXPLAIN_ERROR = 'coassist:explain-error';
/** The palette's heading for coassist's commands; searching "coassist" finds them all. */
export const COMMAND_CATEGORY = 'coassist';

/**
 * Load coassist's magics into the notebook's kernel, quietly: `silent` runs it without an
 * execution count, history entry or output, and loading an extension twice is a no-op.
 *
 * Why not a `%load_ext coassist` line in the inserted cell: `%%assist` is a cell magic and must
 * be the cell's first line, so the line would need a cell of its own; the user asked one
 * question and would get two cells, one of them plumbing. Loading is what the user evidently
 * wants when they run an Assist command, so it happens without being seen.
 */
async function ensureMagicsLoaded(panel: NotebookPanel): Promise<void> {
  await panel.sessionContext.ready;
  const kernel = panel.sessionContext.session?.kernel;
  if (!kernel) {
    return; // no kernel: running the cell below says so, as for any cell
  }
  const future = kernel.requestExecute({
    code: LOAD_MAGICS,
    silent: true,
    store_history: false
  });
  await future.done;
}

/**
 * Insert a code cell below the active one with `source` and run it: the answer streams into
 * that cell's output through the kernel's `%%assist` magic, sharing its conversation.
 */
async function insertAndRun(panel: NotebookPanel, source: string): Promise<void> {
  const notebook = panel.content;
  NotebookActions.insertBelow(notebook);
  NotebookActions.changeCellType(notebook, 'code');
  notebook.activeCell?.model.sharedModel.setSource(source);
  await ensureMagicsLoaded(panel);
  await NotebookActions.run(notebook, panel.sessionContext);
}

/** "Assist: ask about this cell" and "Assist: explain the error" in the command palette. */
export const commandsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'coassist:commands',
  description: 'Assist commands that insert and run %%assist cells.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette | null
  ) => {
    const hasNotebook = () => tracker.currentWidget !== null;
    app.commands.addCommand(ASK_ABOUT_CELL, {
      label: 'Assist: ask about this cell',
      caption: 'Insert a %%assist cell below that explains the active cell',
      isEnabled: hasNotebook,
      execute: async () => {
        const panel = tracker.currentWidget;
        const cell = panel?.content.activeCell;
        if (!panel || !cell) {
          return;
        }
        const count =
          cell.model.type === 'code' ? (cell.model as ICodeCellModel).executionCount : null;
        await insertAndRun(panel, askAboutCellSource(cell.model.sharedModel.getSource(), count));
      }
    });
    app.commands.addCommand(EXPLAIN_ERROR, {
      label: 'Assist: explain the error',
      caption: 'Insert a %assist error cell below that explains the last exception',
      isEnabled: hasNotebook,
      execute: async () => {
        const panel = tracker.currentWidget;
        if (panel) {
          await insertAndRun(panel, EXPLAIN_ERROR_SOURCE);
        }
      }
    });
    for (const command of [ASK_ABOUT_CELL, EXPLAIN_ERROR]) {
      palette?.addItem({ command, category: COMMAND_CATEGORY });
    }
  }
};
