// The page's one history. Every change a user makes is a step that Undo and Redo walk
// through: a stroke, a clear, a fill, a new image, continuing from a result. A step is
// {undo(), redo(), bytes, urls}: what it keeps alive in memory, and the object URLs it shows
// when undone or redone (the page revokes a URL once no step and no view uses it).
//
//     const history = new History(512 * 2 ** 20, () => updateButtons());
//     history.push({ undo: () => put(before), redo: () => put(after), bytes: 1024, urls: [] });
//     history.undo();

export class History {
  constructor(budget, onChange) {
    this.budget = budget;  // bytes the kept steps may hold; the oldest are dropped beyond it
    this.onChange = onChange;
    this.done = [];
    this.undone = [];
    this.bytes = 0;
  }

  get canUndo() { return this.done.length > 0; }
  get canRedo() { return this.undone.length > 0; }

  // A new step, already applied: what could be redone is gone.
  push(step) {
    for (const s of this.undone) this.bytes -= s.bytes;
    this.undone = [];
    this.done.push(step);
    this.bytes += step.bytes;
    // the step just made always stays, even when it alone is over the budget
    while (this.bytes > this.budget && this.done.length > 1) this.bytes -= this.done.shift().bytes;
    this.onChange();
  }

  undo() { return this.move(this.done, this.undone, "undo"); }
  redo() { return this.move(this.undone, this.done, "redo"); }

  move(from, to, how) {
    const step = from.pop();
    if (!step) return false;
    step[how]();
    to.push(step);
    this.onChange();
    return true;
  }

  // The object URLs some kept step may show again.
  urls() { return [...this.done, ...this.undone].flatMap((s) => s.urls); }
}
