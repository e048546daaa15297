// Sending on a ZeroMQ socket from code that may then block its thread for a while (the learner trains with tfjs in a
// synchronous loop): a message goes to the socket at once, not in a promise callback that would run only after the
// block. zeromq.js allows one send in progress per socket; when the socket is busy, messages wait in order behind.
// A ROUTER never waits (it drops what is sent to a peer that has gone); a DEALER queues up to its high-water mark.

type Message = (Buffer | string)[];

export class Outbox {
  private readonly backlog: Message[] = [];
  private drained: Promise<void> = Promise.resolve();

  constructor(private readonly sock: { send(msg: Message): Promise<void> }) {}

  send(msg: Message): void {
    if (this.backlog.length === 0)
      try {
        this.sock.send(msg).catch(() => {}); // a socket closed meanwhile: nothing to deliver to
        return;
      } catch (err) {
        if (!isBusy(err)) return;
      }
    this.backlog.push(msg);
    if (this.backlog.length === 1) this.drained = this.drain();
  }

  /** Resolves once every message was handed to the socket. */
  idle(): Promise<void> {
    return this.drained;
  }

  private async drain(): Promise<void> {
    while (this.backlog.length > 0) {
      try {
        await this.sock.send(this.backlog[0]);
      } catch (err) {
        if (isBusy(err)) {
          await new Promise((r) => setTimeout(r, 1));
          continue;
        }
      }
      this.backlog.shift();
    }
  }
}

const isBusy = (err: unknown) => (err as NodeJS.ErrnoException)?.code === 'EBUSY';
