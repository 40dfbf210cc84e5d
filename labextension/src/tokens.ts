import { Token } from '@lumino/coreutils';

/*
 * The REST contract's TypeScript side. Every body the server sends or accepts is written once as
 * JSON Schema in coassist/server/contract.py; each object schema is declared here as `I` + its
 * name with exactly its keys (optional where the schema does not require them), each enum and
 * union as a type of the same name. tests/test_server_contract.py reads this file and checks it.
 * Display text stays out of the data: the front end formats ids, names and times itself.
 */

/** What a reviewer can decide about a draft. */
export type ReviewAction = 'approve' | 'edit' | 'reject';

/** A draft's status after a decision (approve, edit, reject in that order). */
export type DecidedStatus = 'approved' | 'edited' | 'rejected';

/** Whose database a reply was read from: the current notebook's (`show_in_sidebar`) or the server's. */
export type DatabaseSource = 'notebook' | 'server';

/** The review database a reply was read from; the URL's password is hidden. */
export interface IDatabase {
  url: string;
  source: DatabaseSource;
}

/** One AI draft waiting for a human decision, as GET /coassist/reviews returns it. */
export interface IReviewItem {
  id: number;
  version: number;
  status: 'pending';
  subtask: string;
  title: string;
  text: string;
  model: string;
  p_pass: number;
  plan_id: number;
  /** The name the plan was imported under; may be empty. */
  plan_name: string;
  /** Who the plan assigned to review it. */
  reviewer: string | null;
  /** ISO 8601, UTC. */
  created_at: string;
}

/** GET /coassist/reviews: pending drafts, least confident first. */
export interface IReviewList {
  reviews: IReviewItem[];
  database: IDatabase;
  /** Whom decisions are recorded under; null when the server cannot tell (send `reviewer`). */
  decided_as: string | null;
}

/** What the reviewer decided; `text` is the edited draft and is sent only with `edit`. */
export interface IReviewDecision {
  id: number;
  /** The version the draft was read at: a newer one makes the decision a 409, not an overwrite. */
  version?: number;
  action: ReviewAction;
  text?: string;
  note?: string;
  /** The reviewer's name; counts only where the list's `decided_as` is null. */
  reviewer?: string;
  /** The URL of the database the draft was listed from: a 409 if the request reads another. */
  database?: string;
}

/** A stored decision, as POST /coassist/reviews returns it. */
export interface IDecisionResult {
  id: number;
  subtask: string;
  status: DecidedStatus;
  version: number;
  decided_by: string;
  /** ISO 8601, UTC. */
  decided_at: string;
  /** The reviewer's new work item when the draft was rejected. */
  work_item_id: number | null;
  /** Who the plan assigned to review the draft (may differ from `decided_by`). */
  assigned_to: string | null;
}

/** The decision that came first, carried by a 409. */
export interface IDecisionConflict {
  id: number;
  subtask: string;
  status: DecidedStatus;
  decided_by: string;
}

/** Every error reply; a 409 adds `current` (null when only the version was stale). */
export interface IErrorReply {
  message: string;
  current?: IDecisionConflict | null;
}

/** One worker's share of the current plan; a review is listed as `review <subtask>`. */
export interface IPlanWorker {
  worker: string;
  kind: string;
  hours: number;
  subtasks: string[];
}

/** The current plan, summarised by the server (GET /coassist/plan). */
export interface IPlanSummary {
  available: true;
  message: string;
  id: number;
  /** The name the plan was imported under; may be empty. */
  name: string;
  project: string;
  makespan_hours: number;
  pending_drafts: number;
  workers: IPlanWorker[];
  database: IDatabase;
}

/** GET /coassist/plan before any plan is imported: `message` says which database and how to fill it. */
export interface IPlanUnavailable {
  available: false;
  message: string;
  database: IDatabase;
}

/** GET /coassist/plan's reply: test `available` to tell the two apart. */
export type PlanReply = IPlanSummary | IPlanUnavailable;

/** POST /coassist/complete: the cell around the cursor. */
export interface ICompletionRequest {
  prefix: string;
  suffix?: string;
  path?: string;
}

/** POST /coassist/complete's reply; `cancelled` when a newer request or a disconnect stopped it. */
export interface ICompletionReply {
  text: string;
  model: string;
  cancelled: boolean;
}

/** Where a subtask stands (coassist.agent.state.SubtaskState). */
// One line: tests/test_server_contract.py compares it with the schema's enum as written.
// prettier-ignore
export type SubtaskState = 'waiting' | 'ready' | 'drafting' | 'in_review' | 'rework' | 'with_person' | 'done';

/** A running agent whose heartbeat is older than its lease is lost. */
export type AgentLiveness = 'live' | 'lost' | 'stopped';

/** The plan a team status is about; `version` counts its re-plans from 1 (the import). */
export interface ITeamPlan {
  id: number;
  project: string;
  /** The name the plan was imported under; may be empty. */
  name: string;
  version: number;
}

/** Subtasks per state, every state present (zeros included), and their total. */
export interface ISubtaskCounts {
  waiting: number;
  ready: number;
  drafting: number;
  in_review: number;
  rework: number;
  with_person: number;
  done: number;
  total: number;
}

/** Drafts waiting for one reviewer's decision. */
export interface IReviewerQueue {
  reviewer: string;
  pending: number;
}

/** A scheduling agent of the plan and its last heartbeat. */
export interface ITeamAgent {
  id: string;
  worker: string;
  model: string;
  liveness: AgentLiveness;
  /** Seconds since its last heartbeat, when the status was read. */
  heartbeat_seconds: number;
  drafted: number;
}

/** A subtask on the plan's clock (hours from the plan's creation): planned vs expected end. */
export interface ITeamSubtask {
  subtask: string;
  title: string;
  state: SubtaskState;
  doer: string;
  planned_end_hour: number;
  expected_end_hour: number;
  /** How much later it may end without moving the finish; null once done. */
  slack_hours: number | null;
}

/** When the plan is expected to finish, against its planned makespan. */
export interface ITeamForecast {
  now_hour: number;
  finish_hour: number;
  planned_makespan_hours: number;
  /** Negative when ahead of plan. */
  behind_hours: number;
  /** ISO 8601, UTC. */
  finish_at: string;
  critical_path: ITeamSubtask[];
  least_slack: ITeamSubtask[];
}

/** One subtask whose doer or reviewer a re-plan changed (null: new, removed, or no review). */
export interface IPlanMove {
  subtask: string;
  from_worker: string | null;
  to_worker: string | null;
  from_reviewer: string | null;
  to_reviewer: string | null;
}

/** The subtasks a worker gained and lost in a re-plan. */
export interface IPlanWorkerChange {
  worker: string;
  gained: string[];
  lost: string[];
}

/** The plan's latest re-plan; `why_not` is set when no plan fitted and the old one stands. */
export interface IPlanChange {
  version: number;
  /** ISO 8601, UTC. */
  at: string;
  actor: string;
  reason: string;
  /** For people: what was re-planned, what moved, cost and makespan before and after. */
  summary: string;
  why_not: string | null;
  replanned: number;
  held: number;
  moves: IPlanMove[];
  workers: IPlanWorkerChange[];
  cost_before: number;
  cost_after: number | null;
  makespan_before: number;
  makespan_after: number | null;
}

/** GET /coassist/team: where a plan stands now. */
export interface ITeamStatus {
  plan: ITeamPlan;
  counts: ISubtaskCounts;
  review_queue: IReviewerQueue[];
  agents: ITeamAgent[];
  /** Sentences for people: AI work with no live agent, lost agents. */
  warnings: string[];
  forecast: ITeamForecast;
  /** Null for a plan never re-planned. */
  latest_change: IPlanChange | null;
  /** ISO 8601, UTC. */
  read_at: string;
}

/** GET /coassist/team for a database that holds a plan. */
export interface ITeamView {
  available: true;
  database: IDatabase;
  status: ITeamStatus;
}

/** GET /coassist/team for a database without plans: an empty state, not an error. */
export interface ITeamUnavailable {
  available: false;
  database: IDatabase;
  message: string;
}

/** GET /coassist/team's reply: test `available` to tell the two apart. */
export type TeamReply = ITeamView | ITeamUnavailable;

/** A decision the server refused because someone else decided first (HTTP 409). */
export class ReviewConflictError extends Error {
  constructor(
    message: string,
    readonly current: IDecisionConflict | null
  ) {
    super(message);
  }
}

/**
 * The REST client for coassist's server extension: the only way the front end reaches the
 * assistant, the plan and the review store, so every feature plugin depends on this token.
 */
export interface ICoassistClient {
  complete(request: ICompletionRequest, signal?: AbortSignal): Promise<ICompletionReply>;
  /**
   * The reads and the decision take `kernel`, the current notebook's kernel id: the server then
   * uses the database that notebook showed with `show_in_sidebar`, else its own.
   */
  plan(kernel?: string): Promise<PlanReply>;
  reviews(kernel?: string): Promise<IReviewList>;
  decide(decision: IReviewDecision, kernel?: string): Promise<IDecisionResult>;
  /** The newest plan's status. */
  team(kernel?: string): Promise<TeamReply>;
}

export const ICoassistClient = new Token<ICoassistClient>(
  'coassist:ICoassistClient',
  'REST client for the coassist server extension.'
);
