import { JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICompletionProviderManager } from '@jupyterlab/completer';

import { CoassistInlineProvider } from '../completer';
import { ICoassistClient } from '../tokens';

/** Registers the inline (ghost text) completion provider backed by the server's model. */
export const completerPlugin: JupyterFrontEndPlugin<void> = {
  id: 'coassist:inline-completer',
  description: 'Inline completions from the coassist model.',
  autoStart: true,
  requires: [ICoassistClient, ICompletionProviderManager],
  activate: (_app, client: ICoassistClient, manager: ICompletionProviderManager) => {
    manager.registerInlineProvider(new CoassistInlineProvider(client));
  }
};
