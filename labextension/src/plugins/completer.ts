import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICompletionProviderManager } from '@jupyterlab/completer';
import { INotebookTracker } from '@jupyterlab/notebook';

import { CoassistInlineProvider } from '../completer';
import { ICoassistClient } from '../tokens';

/** JupyterLab's command that asks the inline providers for ghost text at the cursor. */
const INVOKE_INLINE = 'inline-completer:invoke';

/**
 * Registers the inline (ghost text) completion provider backed by the server's model.
 *
 * JupyterLab only asks on its own when the text before the cursor is not blank, so after Enter
 * (a new, empty or indented line) nothing was requested: the last request was for the line
 * before the newline, and its answer no longer fit. Enter in a notebook cell therefore invokes
 * the inline completer explicitly for the new line.
 */
export const completerPlugin: JupyterFrontEndPlugin<void> = {
  id: 'coassist:inline-completer',
  description: 'Inline completions from the coassist model.',
  autoStart: true,
  requires: [ICoassistClient, ICompletionProviderManager],
  optional: [INotebookTracker],
  activate: (
    app: JupyterFrontEnd,
    client: ICoassistClient,
    manager: ICompletionProviderManager,
    tracker: INotebookTracker | null
  ) => {
    manager.registerInlineProvider(new CoassistInlineProvider(client));
    if (!tracker) {
      return;
    }
    // keyup, not keydown: by then the editor has inserted the newline and its indentation.
    app.shell.node.addEventListener('keyup', (event: KeyboardEvent) => {
      if (event.key !== 'Enter' || event.shiftKey || event.ctrlKey || event.altKey || event.metaKey) {
        return;
      }
      const editor = tracker.activeCell?.editor;
      if (!editor || !editor.hasFocus() || !app.commands.hasCommand(INVOKE_INLINE)) {
        return;
      }
      const cursor = editor.getCursorPosition();
      const before = (editor.getLine(cursor.line) ?? '').slice(0, cursor.column);
      if (cursor.line > 0 && !before.trim()) {
        void app.commands.execute(INVOKE_INLINE);
      }
    });
  }
};
