import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  ICoassistClient,
  ICompletionReply,
  ICompletionRequest,
  IDecisionResult,
  IErrorReply,
  IReviewDecision,
  IReviewList,
  PlanReply,
  ReviewConflictError,
  TeamReply
} from './tokens';

/**
 * Talks JSON to /coassist/*. ServerConnection adds the token and the XSRF header, so the
 * requests are authenticated exactly as JupyterLab's own are.
 */
export class CoassistClient implements ICoassistClient {
  private readonly settings = ServerConnection.makeSettings();

  async complete(request: ICompletionRequest, signal?: AbortSignal): Promise<ICompletionReply> {
    return this.request<ICompletionReply>('complete', {
      method: 'POST',
      body: JSON.stringify(request),
      signal
    });
  }

  async plan(kernel?: string): Promise<PlanReply> {
    return this.request<PlanReply>('plan', {}, kernel);
  }

  async reviews(kernel?: string): Promise<IReviewList> {
    return this.request<IReviewList>('reviews', {}, kernel);
  }

  async decide(decision: IReviewDecision, kernel?: string): Promise<IDecisionResult> {
    return this.request<IDecisionResult>(
      'reviews',
      { method: 'POST', body: JSON.stringify(decision) },
      kernel
    );
  }

  async team(kernel?: string): Promise<TeamReply> {
    return this.request<TeamReply>('team', {}, kernel);
  }

  private async request<T>(endpoint: string, init: RequestInit, kernel?: string): Promise<T> {
    const query = kernel ? `?kernel=${encodeURIComponent(kernel)}` : '';
    const url = URLExt.join(this.settings.baseUrl, 'coassist', endpoint) + query;
    const response = await ServerConnection.makeRequest(url, init, this.settings);
    const body = await response.text();
    const data = body ? JSON.parse(body) : {};
    if (!response.ok) {
      const error = data as Partial<IErrorReply>;
      if (response.status === 409) {
        throw new ReviewConflictError(error.message ?? body, error.current ?? null);
      }
      throw new ServerConnection.ResponseError(response, error.message ?? body);
    }
    return data as T;
  }
}
