import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  ICoassistClient,
  ICompletionReply,
  IDecisionResult,
  IPlanSummary,
  IReviewDecision,
  IReviewItem,
  ReviewConflictError
} from './tokens';

/**
 * Talks JSON to /coassist/*. ServerConnection adds the token and the XSRF header, so the
 * requests are authenticated exactly as JupyterLab's own are.
 */
export class CoassistClient implements ICoassistClient {
  private readonly settings = ServerConnection.makeSettings();

  async complete(
    prefix: string,
    suffix: string,
    path: string,
    signal?: AbortSignal
  ): Promise<ICompletionReply> {
    return this.request<ICompletionReply>('complete', {
      method: 'POST',
      body: JSON.stringify({ prefix, suffix, path }),
      signal
    });
  }

  async plan(): Promise<IPlanSummary> {
    return this.request<IPlanSummary>('plan', {});
  }

  async reviews(status = 'pending'): Promise<IReviewItem[]> {
    const reply = await this.request<{ reviews: IReviewItem[] }>(
      `reviews?status=${encodeURIComponent(status)}`,
      {}
    );
    return reply.reviews;
  }

  async decide(decision: IReviewDecision): Promise<IDecisionResult> {
    return this.request<IDecisionResult>('reviews', {
      method: 'POST',
      body: JSON.stringify(decision)
    });
  }

  private async request<T>(endpoint: string, init: RequestInit): Promise<T> {
    const url = URLExt.join(this.settings.baseUrl, 'coassist', endpoint);
    const response = await ServerConnection.makeRequest(url, init, this.settings);
    const body = await response.text();
    const data = body ? JSON.parse(body) : {};
    if (response.status === 409) {
      throw new ReviewConflictError(data.message, data.current ?? null);
    }
    if (!response.ok) {
      throw new ServerConnection.ResponseError(response, data.message ?? body);
    }
    return data as T;
  }
}
