/**
 * The few elements the sidebar builds. Every text they hold comes from tables, people, models
 * or the server, so it is set as `textContent`, never as markup.
 */

export function heading(text: string): HTMLElement {
  const node = document.createElement('h3');
  node.textContent = text;
  return node;
}

export function paragraph(className: string, text: string): HTMLElement {
  const node = document.createElement('p');
  node.className = className;
  node.textContent = text;
  return node;
}

export function list(className: string, lines: string[]): HTMLElement {
  const node = document.createElement('ul');
  node.className = className;
  for (const line of lines) {
    const item = document.createElement('li');
    item.textContent = line;
    node.appendChild(item);
  }
  return node;
}

export function button(
  label: string,
  className: string,
  onClick: () => Promise<void>
): HTMLButtonElement {
  const node = document.createElement('button');
  node.className = `jp-mod-styled ${className}`;
  node.textContent = label;
  node.onclick = () => void onClick();
  return node;
}
