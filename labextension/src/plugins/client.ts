import { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { CoassistClient } from '../client';
import { ICoassistClient } from '../tokens';

/** Provides the REST client every other coassist plugin uses. */
export const clientPlugin: JupyterFrontEndPlugin<ICoassistClient> = {
  id: 'coassist:client',
  description: 'REST client for the coassist server extension.',
  autoStart: true,
  provides: ICoassistClient,
  activate: (): ICoassistClient => new CoassistClient()
};
