import { Token } from '@lumino/coreutils';

/** One AI draft waiting for (or past) a human decision, as GET /coassist/reviews returns it. */
export interface IReviewItem {
  id: number;
  version: number;
  status: string;
  subtask: string;
  title: string;
  text: string;
  model: string;
  p_pass: number;
  plan: string;
  reviewer: string | null;
}

/** A stored decision, as POST /coassist/reviews returns it. */
export interface IDecisionResult {
  id: number;
  subtask: string;
  status: string;
  version: number;
  decided_by: string;
  work_item_id: number | null;
}

/** What the reviewer decided; `text` is the edited draft and is sent only with `edit`. */
export interface IReviewDecision {
  id: number;
  version: number;
  action: 'approve' | 'edit' | 'reject';
  text?: string;
  note?: string;
}

/** The current plan, summarised by the server (GET /coassist/plan). */
export interface IPlanSummary {
  available: boolean;
  message: string;
  id?: number;
  name?: string;
  project?: string;
  makespan_hours?: number;
  pending_drafts?: number;
  workers?: { worker: string; kind: string; hours: number; subtasks: string[] }[];
}

export interface ICompletionReply {
  text: string;
  model: string;
  cancelled: boolean;
}

/** A decision the server refused because someone else decided first (HTTP 409). */
export class ReviewConflictError extends Error {
  constructor(
    message: string,
    readonly current: Partial<IDecisionResult> | null
  ) {
    super(message);
  }
}

/**
 * The REST client for coassist's server extension: the only way the front end reaches the
 * assistant, the plan and the review store, so every feature plugin depends on this token.
 */
export interface ICoassistClient {
  complete(
    prefix: string,
    suffix: string,
    path: string,
    signal?: AbortSignal
  ): Promise<ICompletionReply>;
  plan(): Promise<IPlanSummary>;
  reviews(status?: string): Promise<IReviewItem[]>;
  decide(decision: IReviewDecision): Promise<IDecisionResult>;
}

export const ICoassistClient = new Token<ICoassistClient>(
  'coassist:ICoassistClient',
  'REST client for the coassist server extension.'
);
