import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { CodeCell } from '@jupyterlab/cells';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { KernelMessage } from '@jupyterlab/services';

/**
 * Keeps `[*]` on the cell the kernel is running.
 *
 * JupyterLab 4.6 ends a Run All at the first error reply and clears the `[*]` of every cell not
 * run yet (`NotebookActions` runCells). But a cell tagged `raises-exception` is sent with
 * `stop_on_error: false` (jupyterlab/jupyterlab#6424), so the kernel goes on with the queued
 * cells, which then showed `[ ]` while they ran: the quickstart's deliberate KeyError before
 * `%assist error` did this after its `-f code` cell. The kernel announces each execution it
 * starts (`execute_input`) and ends it with an idle status; between the two, that request's
 * cell is marked running again, both when the announcement comes and when JupyterLab has just
 * ended a run (`selectionExecuted`, emitted after the clearing), whichever comes last. Its
 * execution count, when it comes, ends the mark as usual.
 */
export const runningCellsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'coassist:running-cells',
  description: 'Shows [*] on a cell the kernel runs after a raises-exception cell failed.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (_app: JupyterFrontEnd, tracker: INotebookTracker) => {
    /** The request each notebook's kernel is executing now, by its message id. */
    const executing = new Map<NotebookPanel, string>();
    const watch = (panel: NotebookPanel) => {
      panel.sessionContext.iopubMessage.connect((_, message) => {
        const request = parentId(message);
        if (KernelMessage.isExecuteInputMsg(message) && request) {
          executing.set(panel, request);
          markRunning(panel, request);
        } else if (
          KernelMessage.isStatusMsg(message) &&
          message.content.execution_state === 'idle' &&
          request === executing.get(panel)
        ) {
          executing.delete(panel);
        }
      });
      panel.disposed.connect(() => executing.delete(panel));
    };
    tracker.forEach(watch);
    tracker.widgetAdded.connect((_, panel) => watch(panel));
    NotebookActions.selectionExecuted.connect((_, { notebook }) => {
      const panel = tracker.find(candidate => candidate.content === notebook);
      const request = panel ? executing.get(panel) : undefined;
      if (panel && request) {
        markRunning(panel, request);
      }
    });
  }
};

function parentId(message: KernelMessage.IMessage): string | undefined {
  const parent = message.parent_header;
  return 'msg_id' in parent ? parent.msg_id : undefined;
}

/** Mark the cell whose execute request is `request` running, unless it has finished. */
function markRunning(panel: NotebookPanel, request: string): void {
  for (const cell of panel.content.widgets) {
    if (cell instanceof CodeCell && cell.outputArea.future?.msg.header.msg_id === request) {
      if (cell.model.executionCount === null && cell.model.executionState !== 'running') {
        cell.model.executionState = 'running';
      }
      return;
    }
  }
}
