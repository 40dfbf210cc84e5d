import {
  CompletionHandler,
  IInlineCompletionContext,
  IInlineCompletionList,
  IInlineCompletionProvider
} from '@jupyterlab/completer';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { ICoassistClient } from './tokens';

/**
 * Ghost-text completions from POST /coassist/complete.
 *
 * JupyterLab calls `fetch` on every keystroke (typing 10 characters sent ~15 requests), so the
 * reconciliator's debouncer is switched on through `schema.default.debouncerDelay`, and each new
 * request aborts the one before it: the server then stops generating the stale answer.
 *
 * JupyterLab drops a reply after `timeout` (20 s) without a word. The server answers within its
 * own deadline (`CoassistServer.completion_deadline_seconds`, 8 s) with what it has; should it
 * not, the request is given up at `GIVE_UP_MS`, so an answer never arrives after nobody waits.
 */
export class CoassistInlineProvider implements IInlineCompletionProvider {
  readonly name = 'coassist';
  readonly identifier = 'coassist:inline';
  readonly schema: ISettingRegistry.IProperty = {
    default: { debouncerDelay: 300, timeout: 20000 }
  };
  private inFlight: AbortController | null = null;
  static readonly GIVE_UP_MS = 15000;

  constructor(private readonly client: ICoassistClient) {}

  async fetch(
    request: CompletionHandler.IRequest,
    context: IInlineCompletionContext
  ): Promise<IInlineCompletionList> {
    this.inFlight?.abort();
    const controller = new AbortController();
    this.inFlight = controller;
    const prefix = request.text.slice(0, request.offset);
    const suffix = request.text.slice(request.offset);
    if (!prefix.trim()) {
      return { items: [] };
    }
    const path = (context.widget as { context?: { path?: string } }).context?.path ?? '';
    const giveUp = setTimeout(() => controller.abort(), CoassistInlineProvider.GIVE_UP_MS);
    try {
      const reply = await this.client.complete({ prefix, suffix, path }, controller.signal);
      return { items: reply.text ? [{ insertText: reply.text }] : [] };
    } catch (error) {
      if (controller.signal.aborted) {
        return { items: [] };
      }
      throw error;
    } finally {
      clearTimeout(giveUp);
      if (this.inFlight === controller) {
        this.inFlight = null;
      }
    }
  }
}
