import { ServerConnection } from '@jupyterlab/services';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { button, heading, paragraph } from './dom';
import { ReviewerName } from './reviewer';
import { TeamSection } from './team';

import {
  ICoassistClient,
  IDatabase,
  IReviewItem,
  IReviewList,
  PlanReply,
  ReviewAction,
  ReviewConflictError,
  TeamReply
} from './tokens';

/** The notebook the sidebar follows: the current one, if any, and its kernel. */
export interface ICurrentNotebook {
  /** Its kernel's id; the server reads the database that kernel showed with `show_in_sidebar`. */
  kernel?: string;
  /** Its path, to say whose database is shown. */
  path?: string;
}

/** Where a list of drafts came from: a decision about one of them goes back there. */
interface IListing {
  kernel?: string;
  database: string;
  decidedAs: string | null;
}

/**
 * The coassist sidebar: which database it reads, the plan summary, the team's status and the
 * review queue. It only renders what the server returns and forwards clicks; decisions,
 * conflicts and plans live on the server. It follows the current notebook: a notebook that
 * called `show_in_sidebar(store)` has its store shown, any other the server's database.
 */
export class CoassistSidebar extends Widget {
  /** How often the queue reloads while the sidebar is shown: kernels draft in the background. */
  static readonly POLL_MS = 10000;
  /** How often the Team section reloads while shown: agents draft and re-plan by themselves. */
  static readonly TEAM_POLL_MS = 3000;
  private poll: number | null = null;
  private teamPoll: number | null = null;
  /** Counts refreshes: a reply for a notebook that is no longer current is dropped. */
  private generation = 0;
  /** The URL of the database shown, so a Team reply from another one reloads the rest too. */
  private shownDatabase: string | null = null;
  private readonly databaseNode = paragraph('jp-coassist-database', '');
  private readonly identityNode = paragraph('jp-coassist-identity', '');
  private readonly planNode = document.createElement('section');
  private readonly team = new TeamSection();
  private readonly queueNode = document.createElement('section');
  private readonly queueHeading = heading('Review queue');
  private readonly statusNode = document.createElement('div');
  private readonly cardsNode = document.createElement('div');

  constructor(
    private readonly client: ICoassistClient,
    private readonly current: () => ICurrentNotebook,
    private readonly reviewer: ReviewerName
  ) {
    super();
    this.addClass('jp-coassist-sidebar');
    const header = document.createElement('h2');
    header.textContent = 'coassist';
    const refresh = document.createElement('button');
    refresh.className = 'jp-coassist-refresh jp-mod-styled';
    refresh.textContent = 'Refresh';
    refresh.onclick = () => void this.refresh();
    this.statusNode.className = 'jp-coassist-status';
    this.statusNode.setAttribute('role', 'status');
    this.planNode.className = 'jp-coassist-plan';
    this.queueNode.className = 'jp-coassist-queue';
    // The decision's outcome sits under the queue's heading, where the deciding happens.
    this.queueNode.append(this.queueHeading, this.statusNode, this.cardsNode);
    this.node.append(
      header,
      refresh,
      this.databaseNode,
      this.identityNode,
      this.planNode,
      this.team.node,
      this.queueNode
    );
    this.startPolling();
  }

  /** Load when shown rather than at startup: the queue may live in a remote database. */
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.refresh();
  }

  /** Reload, then bring the review queue into view ("Assist: open review queue"). */
  async showQueue(): Promise<void> {
    await this.refresh();
    this.queueNode.scrollIntoView({ block: 'start' });
  }

  /**
   * While the sidebar is on screen, reload the queue every `POLL_MS` (drafts a kernel makes
   * appear without a click) and the Team section every `TEAM_POLL_MS`. The timers run for the
   * sidebar's lifetime and each tick asks whether it is shown now: timers started and stopped
   * by show and attach messages were seen left stopped on a shown sidebar when it was opened
   * while JupyterLab was still starting.
   */
  private startPolling(): void {
    this.poll = window.setInterval(() => {
      if (this.isShown() && !this.isBusy()) {
        void this.refresh();
      }
    }, CoassistSidebar.POLL_MS);
    this.teamPoll = window.setInterval(() => {
      if (this.isShown()) {
        void this.pollTeam();
      }
    }, CoassistSidebar.TEAM_POLL_MS);
  }

  /** On screen now: the sidebar open and the browser tab in front. */
  private isShown(): boolean {
    return this.isVisible && !document.hidden;
  }

  dispose(): void {
    this.stopPolling();
    super.dispose();
  }

  private stopPolling(): void {
    if (this.poll !== null) {
      window.clearInterval(this.poll);
      this.poll = null;
    }
    if (this.teamPoll !== null) {
      window.clearInterval(this.teamPoll);
      this.teamPoll = null;
    }
  }

  /** A draft being edited or a note being typed: a reload now would throw the typing away. */
  private isBusy(): boolean {
    const active = document.activeElement;
    if (active && this.cardsNode.contains(active)) {
      return true;
    }
    const typed = Array.from(this.cardsNode.querySelectorAll<HTMLInputElement>('.jp-coassist-note'));
    const editing = this.cardsNode.querySelector('.jp-coassist-draft:not([readonly])');
    return editing !== null || typed.some(note => note.value.trim() !== '');
  }

  /** Reload the plan summary, the team's status and the pending drafts from the server. */
  async refresh(): Promise<void> {
    const generation = ++this.generation;
    const notebook = this.current();
    const team = this.loadTeam(notebook);
    try {
      const [plan, list] = await Promise.all([
        this.client.plan(notebook.kernel),
        this.client.reviews(notebook.kernel)
      ]);
      if (generation === this.generation) {
        this.renderDatabase(list.database, notebook);
        this.renderIdentity(list.decided_as);
        this.renderPlan(plan);
        this.renderQueue(list, notebook.kernel);
      }
    } catch (error) {
      if (generation === this.generation) {
        this.databaseNode.textContent = failure(error);
        this.databaseNode.classList.add('jp-coassist-error');
      }
    }
    const reply = await team;
    if (generation === this.generation) {
      this.renderTeam(reply);
    }
  }

  /**
   * Reload the Team section alone; a reply from another database than the one shown (the
   * notebook just called `show_in_sidebar`) reloads everything, so no section lags behind.
   */
  private async pollTeam(): Promise<void> {
    const generation = this.generation;
    const reply = await this.loadTeam(this.current());
    if (generation !== this.generation) {
      return;
    }
    if (typeof reply !== 'string' && reply.database.url !== this.shownDatabase) {
      await this.refresh();
      return;
    }
    this.renderTeam(reply);
  }

  /** The Team reply, or why there is none in one line. */
  private async loadTeam(notebook: ICurrentNotebook): Promise<TeamReply | string> {
    try {
      return await this.client.team(notebook.kernel);
    } catch (error) {
      return failure(error);
    }
  }

  private renderTeam(reply: TeamReply | string): void {
    if (typeof reply === 'string') {
      this.team.showMessage(reply);
    } else if (reply.available) {
      this.team.render(reply.status);
    } else {
      this.team.showMessage(reply.message);
    }
  }

  private renderDatabase(database: IDatabase, notebook: ICurrentNotebook): void {
    const whose =
      database.source === 'notebook'
        ? `shown by ${notebook.path ?? 'the current notebook'}`
        : "the server's (CoassistServer.db_url)";
    this.databaseNode.textContent = `Database: ${database.url}, ${whose}`;
    this.shownDatabase = database.url;
    this.databaseNode.classList.remove('jp-coassist-error');
  }

  private renderIdentity(decidedAs: string | null): void {
    const name = decidedAs ?? this.reviewer.current;
    this.identityNode.textContent = name
      ? `Deciding as ${name}`
      : 'You will be asked for your name before your first decision.';
  }

  private renderPlan(plan: PlanReply): void {
    this.planNode.replaceChildren(heading('Plan'));
    const summary = paragraph('jp-coassist-plan-summary', plan.message);
    if (!plan.available) {
      this.planNode.appendChild(summary);
      return;
    }
    const list = document.createElement('ul');
    for (const worker of plan.workers) {
      const item = document.createElement('li');
      item.textContent = `${worker.worker} (${worker.kind}): ${worker.hours.toFixed(1)} h, ${worker.subtasks.join(', ')}`;
      list.appendChild(item);
    }
    this.planNode.append(summary, list);
  }

  private renderQueue(list: IReviewList, kernel: string | undefined): void {
    const listing: IListing = { kernel, database: list.database.url, decidedAs: list.decided_as };
    this.queueHeading.textContent = `Review queue (${plural(list.reviews.length, 'draft')})`;
    this.cardsNode.replaceChildren();
    if (list.reviews.length === 0) {
      this.cardsNode.appendChild(paragraph('jp-coassist-empty', 'No drafts are waiting for review.'));
    }
    for (const review of list.reviews) {
      this.cardsNode.appendChild(this.card(review, listing));
    }
  }

  private card(review: IReviewItem, listing: IListing): HTMLElement {
    const card = document.createElement('div');
    card.className = 'jp-coassist-card';
    card.dataset.draftId = String(review.id);
    const title = document.createElement('h4');
    title.textContent = `${review.subtask}: ${review.title}`;
    const meta = document.createElement('div');
    meta.className = 'jp-coassist-meta';
    const assigned = review.reviewer ? ` · for ${review.reviewer}` : '';
    const plan = planLabel(review.plan_id, review.plan_name);
    meta.textContent = `${review.model} · p(pass) ${review.p_pass.toFixed(2)} · ${plan}${assigned}`;
    const text = document.createElement('textarea');
    text.className = 'jp-coassist-draft';
    text.value = review.text;
    text.readOnly = true;
    text.rows = Math.min(8, review.text.split('\n').length + 1);
    const buttons = document.createElement('div');
    buttons.className = 'jp-coassist-buttons';
    const note = document.createElement('input');
    note.type = 'text';
    note.className = 'jp-coassist-note jp-mod-styled';
    note.placeholder = 'Note (why, for the record)';
    note.setAttribute('aria-label', `Note on the decision about ${review.subtask}`);
    const decide = (action: ReviewAction) => async () => {
      await this.decide(review, listing, action, text.value, note.value);
    };
    const approve = button('Approve', 'jp-coassist-approve', decide('approve'));
    const reject = button('Reject', 'jp-coassist-reject', decide('reject'));
    const edit = button('Edit', 'jp-coassist-edit', async () => {
      if (text.readOnly) {
        text.readOnly = false;
        text.focus();
        edit.textContent = 'Save edit';
      } else {
        await decide('edit')();
      }
    });
    buttons.append(approve, edit, reject);
    card.append(title, meta, text, note, buttons);
    return card;
  }

  private async decide(
    review: IReviewItem,
    listing: IListing,
    action: ReviewAction,
    text: string,
    note: string
  ): Promise<void> {
    // The server records the decision under its configured reviewer_name or the signed-in
    // user and says whom in `decided_by`. Only where it cannot tell (`decided_as` null: a
    // token-only JupyterLab) does the name the person gave count.
    const reviewer = listing.decidedAs === null ? await this.reviewer.ensure() : null;
    if (listing.decidedAs === null && reviewer === null) {
      this.say(`Not decided: ${review.subtask} waits until you give your name as a reviewer.`, true);
      return;
    }
    try {
      const decided = await this.client.decide(
        {
          id: review.id,
          version: review.version,
          action,
          text: action === 'edit' ? text : undefined,
          note: note.trim() ? note.trim() : undefined,
          reviewer: reviewer ?? undefined,
          database: listing.database
        },
        listing.kernel
      );
      const whose =
        decided.assigned_to && decided.assigned_to !== decided.decided_by
          ? ` (assigned to ${decided.assigned_to})`
          : '';
      this.say(
        `Draft ${decided.id} (${decided.subtask}): ${decided.status} by ${decided.decided_by}${whose}.`,
        false
      );
    } catch (error) {
      if (error instanceof ReviewConflictError) {
        this.say(`Conflict: ${error.message}`, true);
      } else {
        this.say(`Could not store the decision: ${failure(error)}`, true);
      }
    }
    await this.refresh();
  }

  /** The outcome of a decision, under the queue's heading and scrolled into view. */
  private say(message: string, isError: boolean): void {
    this.statusNode.textContent = message;
    this.statusNode.classList.toggle('jp-coassist-error', isError);
    this.statusNode.scrollIntoView({ block: 'nearest' });
  }
}

/** A plan as people name it: its imported name with its id, or the id alone. */
export function planLabel(id: number, name: string): string {
  return name ? `${name} (plan ${id})` : `plan ${id}`;
}

/** `1 draft`, `0 drafts`, `2 drafts`. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** A failed request in one line: the server's message, or that the server could not be reached. */
function failure(error: unknown): string {
  return error instanceof ServerConnection.ResponseError
    ? error.message
    : `Could not reach the coassist server extension: ${error}`;
}
