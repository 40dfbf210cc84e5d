import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { CodeCell } from '@jupyterlab/cells';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { KernelMessage } from '@jupyterlab/services';

/**
 * Keeps `[*]` on the cell the kernel is running.
 *
 * JupyterLab 4.6 ends a Run All at the first error reply and clears the `[*]` of every cell not
 * run yet (`NotebookActions` runCells). But a cell tagged `raises-exception` is sent with
 * `stop_on_error: false` (jupyterlab/jupyterlab#6424), so the kernel goes on with the queued
 * cells, which then showed `[ ]` while they ran: the quickstart's deliberate KeyError before
 * `%assist error` did this after its `-f code` cell. The kernel announces each execution it
 * starts with `execute_input`; the cell whose request that answers is marked running again
 * (its execution count, when it comes, ends the mark as usual).
 */
export const runningCellsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'coassist:running-cells',
  description: 'Shows [*] on a cell the kernel runs after a raises-exception cell failed.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (_app: JupyterFrontEnd, tracker: INotebookTracker) => {
    const watch = (panel: NotebookPanel) => {
      panel.sessionContext.iopubMessage.connect((_, message) => {
        if (KernelMessage.isExecuteInputMsg(message)) {
          markRunning(panel, message.parent_header);
        }
      });
    };
    tracker.forEach(watch);
    tracker.widgetAdded.connect((_, panel) => watch(panel));
  }
};

function markRunning(
  panel: NotebookPanel,
  request: KernelMessage.IExecuteInputMsg['parent_header']
): void {
  const id = 'msg_id' in request ? request.msg_id : undefined;
  for (const cell of panel.content.widgets) {
    if (cell instanceof CodeCell && id && cell.outputArea.future?.msg.header.msg_id === id) {
      if (cell.model.executionCount === null && cell.model.executionState !== 'running') {
        cell.model.executionState = 'running';
      }
      return;
    }
  }
}
