import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { checkIcon } from '@jupyterlab/ui-components';

import { ReviewerName } from '../reviewer';
import { CoassistSidebar, ICurrentNotebook } from '../sidebar';
import { ICoassistClient } from '../tokens';
import { COMMAND_CATEGORY } from './commands';

export const OPEN_REVIEW_QUEUE = 'coassist:open-review-queue';

const PLUGIN_ID = 'coassist:sidebar';

/**
 * The right-hand sidebar (database, plan summary, team status, review queue) and "Assist: open
 * review queue". The sidebar follows the current notebook (`INotebookTracker`), so a notebook
 * that showed its own store with `show_in_sidebar` sees it there.
 */
export const sidebarPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Plan summary, team status and review queue in the sidebar.',
  autoStart: true,
  requires: [ICoassistClient, ILabShell, INotebookTracker, ISettingRegistry],
  optional: [ICommandPalette],
  activate: async (
    app: JupyterFrontEnd,
    client: ICoassistClient,
    shell: ILabShell,
    tracker: INotebookTracker,
    registry: ISettingRegistry,
    palette: ICommandPalette | null
  ) => {
    const reviewer = new ReviewerName(await registry.load(PLUGIN_ID));
    const current = (): ICurrentNotebook => {
      const panel = tracker.currentWidget;
      return {
        kernel: panel?.sessionContext.session?.kernel?.id,
        path: panel?.context.path
      };
    };
    const sidebar = new CoassistSidebar(client, current, reviewer);
    sidebar.id = 'coassist-sidebar';
    sidebar.title.icon = checkIcon;
    sidebar.title.caption = 'coassist: plan, team status and review queue';
    shell.add(sidebar, 'right', { rank: 600 });

    // Another notebook, or the same one with a new kernel: another database, perhaps.
    const follow = () => {
      if (sidebar.isVisible) {
        void sidebar.refresh();
      }
    };
    const watch = (panel: NotebookPanel) => panel.sessionContext.kernelChanged.connect(follow);
    tracker.forEach(watch);
    tracker.widgetAdded.connect((_, panel) => watch(panel));
    tracker.currentChanged.connect(follow);

    app.commands.addCommand(OPEN_REVIEW_QUEUE, {
      label: 'Assist: open review queue',
      caption: 'Show the drafts waiting for review',
      execute: async () => {
        // Before the layout is restored, a shown sidebar would be collapsed again by the
        // restore (the saved layout, or the default one, has the right area closed).
        await app.restored;
        shell.activateById(sidebar.id);
        await sidebar.showQueue();
      }
    });
    palette?.addItem({ command: OPEN_REVIEW_QUEUE, category: COMMAND_CATEGORY });
  }
};
