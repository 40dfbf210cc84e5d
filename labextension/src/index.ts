import { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { clientPlugin } from './plugins/client';
import { commandsPlugin } from './plugins/commands';
import { completerPlugin } from './plugins/completer';
import { runningCellsPlugin } from './plugins/running';
import { sidebarPlugin } from './plugins/sidebar';

export * from './tokens';

const plugins: JupyterFrontEndPlugin<any>[] = [
  clientPlugin,
  sidebarPlugin,
  commandsPlugin,
  completerPlugin,
  runningCellsPlugin
];

export default plugins;
