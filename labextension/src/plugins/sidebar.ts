import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { checkIcon } from '@jupyterlab/ui-components';

import { CoassistSidebar } from '../sidebar';
import { ICoassistClient } from '../tokens';

export const OPEN_REVIEW_QUEUE = 'coassist:open-review-queue';

/** The right-hand sidebar (plan summary, team status, review queue) and "Assist: open review queue". */
export const sidebarPlugin: JupyterFrontEndPlugin<void> = {
  id: 'coassist:sidebar',
  description: 'Plan summary, team status and review queue in the sidebar.',
  autoStart: true,
  requires: [ICoassistClient, ILabShell],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    client: ICoassistClient,
    shell: ILabShell,
    palette: ICommandPalette | null
  ) => {
    const sidebar = new CoassistSidebar(client);
    sidebar.id = 'coassist-sidebar';
    sidebar.title.icon = checkIcon;
    sidebar.title.caption = 'coassist: plan, team status and review queue';
    shell.add(sidebar, 'right', { rank: 600 });

    app.commands.addCommand(OPEN_REVIEW_QUEUE, {
      label: 'Assist: open review queue',
      caption: 'Show the drafts waiting for review',
      execute: async () => {
        shell.activateById(sidebar.id);
        await sidebar.refresh();
      }
    });
    palette?.addItem({ command: OPEN_REVIEW_QUEUE, category: 'Assist' });
  }
};
