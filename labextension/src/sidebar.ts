import { ServerConnection } from '@jupyterlab/services';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { TeamSection } from './team';

import {
  ICoassistClient,
  IReviewItem,
  PlanReply,
  ReviewAction,
  ReviewConflictError
} from './tokens';

/**
 * The coassist sidebar: the plan summary, the team's status and the review queue. It only
 * renders what the server returns and forwards clicks; decisions, conflicts and plans live on
 * the server.
 */
export class CoassistSidebar extends Widget {
  /** How often the queue reloads while the sidebar is shown: kernels draft in the background. */
  static readonly POLL_MS = 10000;
  /** How often the Team section reloads while shown: agents draft and re-plan by themselves. */
  static readonly TEAM_POLL_MS = 3000;
  private poll: number | null = null;
  private teamPoll: number | null = null;
  private readonly planNode = document.createElement('section');
  private readonly team = new TeamSection();
  private readonly queueNode = document.createElement('section');
  private readonly statusNode = document.createElement('div');

  constructor(private readonly client: ICoassistClient) {
    super();
    this.addClass('jp-coassist-sidebar');
    const header = document.createElement('h2');
    header.textContent = 'coassist';
    const refresh = document.createElement('button');
    refresh.className = 'jp-coassist-refresh jp-mod-styled';
    refresh.textContent = 'Refresh';
    refresh.onclick = () => void this.refresh();
    this.statusNode.className = 'jp-coassist-status';
    this.planNode.className = 'jp-coassist-plan';
    this.queueNode.className = 'jp-coassist-queue';
    this.node.append(header, refresh, this.statusNode, this.planNode, this.team.node, this.queueNode);
    this.startPolling();
  }

  /** Load when shown rather than at startup: the queue may live in a remote database. */
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.refresh();
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
        void this.refreshTeam();
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
    if (active && this.queueNode.contains(active)) {
      return true;
    }
    const typed = Array.from(this.queueNode.querySelectorAll<HTMLInputElement>('.jp-coassist-note'));
    const editing = this.queueNode.querySelector('.jp-coassist-draft:not([readonly])');
    return editing !== null || typed.some(note => note.value.trim() !== '');
  }

  /** Reload the plan summary, the team's status and the pending drafts from the server. */
  async refresh(): Promise<void> {
    const team = this.refreshTeam();
    try {
      const [plan, reviews] = await Promise.all([
        this.client.plan(),
        this.client.reviews('pending')
      ]);
      this.renderPlan(plan);
      this.renderQueue(reviews);
    } catch (error) {
      this.say(`Could not reach the coassist server extension: ${error}`, true);
    }
    await team;
  }

  /** Reload the Team section; a 404 (no plan yet) or an unreachable server is said in it. */
  async refreshTeam(): Promise<void> {
    try {
      this.team.render(await this.client.team());
    } catch (error) {
      const message =
        error instanceof ServerConnection.ResponseError
          ? error.message
          : `Could not reach the coassist server extension: ${error}`;
      this.team.showMessage(message);
    }
  }

  private renderPlan(plan: PlanReply): void {
    this.planNode.replaceChildren(heading('Plan'));
    const summary = document.createElement('p');
    summary.className = 'jp-coassist-plan-summary';
    summary.textContent = plan.message;
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

  private renderQueue(reviews: IReviewItem[]): void {
    this.queueNode.replaceChildren(heading(`Review queue (${plural(reviews.length, 'draft')})`));
    if (reviews.length === 0) {
      const empty = document.createElement('p');
      empty.className = 'jp-coassist-empty';
      empty.textContent = 'No drafts are waiting for review.';
      this.queueNode.appendChild(empty);
    }
    for (const review of reviews) {
      this.queueNode.appendChild(this.card(review));
    }
  }

  private card(review: IReviewItem): HTMLElement {
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
      await this.decide(review, action, text.value, note.value);
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
    action: ReviewAction,
    text: string,
    note: string
  ): Promise<void> {
    // The server records the decision under the signed-in user (or its configured
    // reviewer_name) and says whom in `decided_by`: nothing typed here can change it.
    // Anyone may decide any draft; the server audits whose it was and says so in `assigned_to`.
    try {
      const decided = await this.client.decide({
        id: review.id,
        version: review.version,
        action,
        text: action === 'edit' ? text : undefined,
        note: note.trim() ? note.trim() : undefined
      });
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
        this.say(`Could not store the decision: ${error}`, true);
      }
    }
    await this.refresh();
  }

  private say(message: string, isError: boolean): void {
    this.statusNode.textContent = message;
    this.statusNode.classList.toggle('jp-coassist-error', isError);
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

function heading(text: string): HTMLElement {
  const node = document.createElement('h3');
  node.textContent = text;
  return node;
}

function button(label: string, className: string, onClick: () => Promise<void>): HTMLButtonElement {
  const node = document.createElement('button');
  node.className = `jp-mod-styled ${className}`;
  node.textContent = label;
  node.onclick = () => void onClick();
  return node;
}
