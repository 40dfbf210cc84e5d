import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  ICoassistClient,
  ICompletionReply,
  ICompletionRequest,
  IDecisionResult,
  IErrorReply,
  IReviewDecision,
  IReviewItem,
  IReviewList,
  ITeamStatus,
  PlanReply,
  ReviewConflictError
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

  async plan(): Promise<PlanReply> {
    return this.request<PlanReply>('plan', {});
  }

  async reviews(status = 'pending'): Promise<IReviewItem[]> {
    const reply = await this.request<IReviewList>(
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

  async team(plan?: number): Promise<ITeamStatus> {
    const query = plan === undefined ? '' : `?plan=${encodeURIComponent(String(plan))}`;
    return this.request<ITeamStatus>(`team${query}`, {});
  }

  private async request<T>(endpoint: string, init: RequestInit): Promise<T> {
    const url = URLExt.join(this.settings.baseUrl, 'coassist', endpoint);
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
