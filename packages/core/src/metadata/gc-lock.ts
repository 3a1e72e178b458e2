// Garbage collection removes files after deciding, in one transaction, what is
// unreachable. Writers that may re-create a blob or snapshot the collector is about to
// delete hold the lock shared; the sweep of files holds it exclusive.
export class GcLock {
  private sharedCount = 0;
  private exclusive: Promise<void> | null = null;
  private drained: (() => void) | null = null;

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.exclusive) await this.exclusive;
    this.sharedCount++;
    try {
      return await fn();
    } finally {
      this.sharedCount--;
      if (this.sharedCount === 0) this.drained?.();
    }
  }

  async exclusively<T>(fn: () => Promise<T>): Promise<T> {
    while (this.exclusive) await this.exclusive;
    let release!: () => void;
    this.exclusive = new Promise<void>((r) => {
      release = r;
    });
    try {
      if (this.sharedCount > 0) {
        await new Promise<void>((r) => {
          this.drained = r;
        });
        this.drained = null;
      }
      return await fn();
    } finally {
      this.exclusive = null;
      release();
    }
  }
}
