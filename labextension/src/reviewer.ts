import { InputDialog } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

/** The setting (Settings › coassist › Reviewer name) that holds the name. */
export const REVIEWER_SETTING = 'reviewerName';

/**
 * The name this browser's person reviews under, on a server that cannot tell who is signed in
 * (a token-only JupyterLab signs everyone in as a random id). It lives in the JupyterLab setting
 * `reviewerName`, so it survives reloads and can be changed in the Settings Editor; before the
 * first decision without one, the person is asked.
 */
export class ReviewerName {
  constructor(private readonly settings: ISettingRegistry.ISettings) {}

  /** The name set so far; empty when none is. */
  get current(): string {
    const value = this.settings.get(REVIEWER_SETTING).composite;
    return typeof value === 'string' ? value.trim() : '';
  }

  /** The set name, else the one the person types now (kept for next time); null if they cancel. */
  async ensure(): Promise<string | null> {
    if (this.current) {
      return this.current;
    }
    const answer = await InputDialog.getText({
      title: 'Your name as a reviewer',
      label:
        'This JupyterLab cannot tell who you are. Your decisions are recorded under this name ' +
        '(as the plans name you, e.g. ana); change it in Settings › coassist › Reviewer name.',
      placeholder: 'ana',
      okLabel: 'Save'
    });
    const name = answer.button.accept ? (answer.value ?? '').trim() : '';
    if (!name) {
      return null;
    }
    await this.settings.set(REVIEWER_SETTING, name);
    return name;
  }
}
