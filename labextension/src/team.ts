import { heading, list, paragraph } from './dom';
import { ITeamStatus, ITeamSubtask, SubtaskState } from './tokens';

/** The states in the order work moves through them, with the words people read. */
const STATE_LABELS: [SubtaskState, string][] = [
  ['waiting', 'waiting'],
  ['ready', 'ready'],
  ['drafting', 'drafting'],
  ['in_review', 'in review'],
  ['rework', 'rework'],
  ['with_person', 'with a person'],
  ['done', 'done']
];

/** A forecast this close to the planned makespan (3 minutes) is on time. */
const ON_TIME_HOURS = 0.05;

/**
 * The sidebar's Team section: where the newest plan stands (GET /coassist/team). Every name,
 * title and sentence in it comes from tables, people or the server, so it is set as
 * `textContent`, never as markup.
 */
export class TeamSection {
  readonly node = document.createElement('section');

  constructor() {
    this.node.className = 'jp-coassist-team';
    this.node.appendChild(heading('Team'));
  }

  /** Show why there is no status (no plan yet, the server unreachable). */
  showMessage(message: string): void {
    this.node.replaceChildren(heading('Team'), paragraph('jp-coassist-team-message', message));
  }

  render(team: ITeamStatus): void {
    const plan = team.plan;
    const title = `${plan.project} / ${plan.name || `plan ${plan.id}`} · version ${plan.version}`;
    const counts = STATE_LABELS.map(([state, label]) => `${label} ${team.counts[state]}`);
    const children: HTMLElement[] = [
      heading('Team'),
      paragraph('jp-coassist-team-plan', title),
      paragraph(
        'jp-coassist-team-counts',
        `${team.counts.total} subtasks: ${counts.join(', ')}`
      ),
      paragraph(
        'jp-coassist-team-queue',
        team.review_queue.length
          ? `Review queue: ${team.review_queue.map(q => `${q.reviewer} ${q.pending}`).join(', ')}`
          : 'Review queue: no drafts waiting'
      ),
      this.agents(team),
      this.forecast(team)
    ];
    if (team.warnings.length) {
      children.push(list('jp-coassist-team-warnings', team.warnings.map(w => `⚠ ${w}`)));
    }
    children.push(this.change(team));
    this.node.replaceChildren(...children);
  }

  private agents(team: ITeamStatus): HTMLElement {
    if (!team.agents.length) {
      return paragraph('jp-coassist-team-agents', 'Agents: none has run for this plan');
    }
    return list(
      'jp-coassist-team-agents',
      team.agents.map(
        a =>
          `${a.worker}: ${a.liveness}, heartbeat ${age(a.heartbeat_seconds)} ago, ` +
          `${a.drafted} drafted (${a.model})`
      )
    );
  }

  private forecast(team: ITeamStatus): HTMLElement {
    const f = team.forecast;
    const when = new Date(f.finish_at).toLocaleString();
    const lines = [
      `Forecast finish: hour ${f.finish_hour.toFixed(1)} (${when}), planned ` +
        `${f.planned_makespan_hours.toFixed(1)} h: ${behind(f.behind_hours)}`
    ];
    if (f.critical_path.length) {
      lines.push(`Critical path: ${f.critical_path.map(s => s.subtask).join(' → ')}`);
    }
    const tight = f.least_slack.slice(0, 3).map(slack);
    if (tight.length) {
      lines.push(`Least slack: ${tight.join(', ')}`);
    }
    return list('jp-coassist-team-forecast', lines);
  }

  private change(team: ITeamStatus): HTMLElement {
    const change = team.latest_change;
    const box = document.createElement('div');
    box.className = 'jp-coassist-team-change';
    if (change === null) {
      box.textContent = 'Not re-planned since it was imported.';
      return box;
    }
    const when = new Date(change.at).toLocaleString();
    box.append(
      paragraph(
        'jp-coassist-team-change-head',
        `Re-plan to version ${change.version} (${when}, by ${change.actor}: ${change.reason})`
      ),
      paragraph('jp-coassist-team-change-summary', change.summary)
    );
    if (change.why_not !== null) {
      const whyNot = paragraph('jp-coassist-team-why-not', `Why not: ${change.why_not}`);
      whyNot.style.whiteSpace = 'pre-wrap';
      box.appendChild(whyNot);
    }
    return box;
  }
}

/** `1.5 h behind`, `0.3 h ahead` or `on time`. */
export function behind(hours: number): string {
  if (Math.abs(hours) < ON_TIME_HOURS) {
    return 'on time';
  }
  return `${Math.abs(hours).toFixed(1)} h ${hours > 0 ? 'behind' : 'ahead'}`;
}

/** `12 s`, `4 min`, `3.2 h`. */
export function age(seconds: number): string {
  if (seconds < 120) {
    return `${Math.round(seconds)} s`;
  }
  if (seconds < 7200) {
    return `${Math.round(seconds / 60)} min`;
  }
  return `${(seconds / 3600).toFixed(1)} h`;
}

function slack(subtask: ITeamSubtask): string {
  return `${subtask.subtask} ${(subtask.slack_hours ?? 0).toFixed(1)} h (${subtask.doer})`;
}
