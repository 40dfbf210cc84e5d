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
 */
export class CoassistInlineProvider implements IInlineCompletionProvider {
  readonly name = 'coassist';
  readonly identifier = 'coassist:inline';
  readonly schema: ISettingRegistry.IProperty = {
    default: { debouncerDelay: 300, timeout: 20000 }
  };
  private inFlight: AbortController | null = null;

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
    try {
      const reply = await this.client.complete({ prefix, suffix, path }, controller.signal);
      return { items: reply.text ? [{ insertText: reply.text }] : [] };
    } catch (error) {
      if (controller.signal.aborted) {
        return { items: [] };
      }
      throw error;
    } finally {
      if (this.inFlight === controller) {
        this.inFlight = null;
      }
    }
  }
}
