// Cuts a raw video byte stream (ffmpeg's rawvideo on a pipe) into frames of exactly frame_bytes. Pipe
// chunks do not respect frame boundaries: one chunk may end mid-frame or hold several frames.
export class RawFrameSplitter {
  private frame: Uint8Array;
  private filled = 0;

  constructor(
    readonly frame_bytes: number,
    private readonly onFrame: (frame: Uint8Array) => void,
  ) {
    if (!Number.isInteger(frame_bytes) || frame_bytes <= 0)
      throw new RangeError(`frame size must be a positive whole number of bytes, got ${frame_bytes}`);
    this.frame = new Uint8Array(frame_bytes);
  }

  /** Bytes of an incomplete frame waiting for the rest. */
  get pending_bytes(): number {
    return this.filled;
  }

  push(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, this.frame_bytes - this.filled);
      this.frame.set(chunk.subarray(off, off + n), this.filled);
      this.filled += n;
      off += n;
      if (this.filled === this.frame_bytes) {
        const done = this.frame;
        // a fresh buffer per frame: the consumer may keep the old one
        this.frame = new Uint8Array(this.frame_bytes);
        this.filled = 0;
        this.onFrame(done);
      }
    }
  }
}
