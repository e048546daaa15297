// Types of the parts of lz4js (pure JS, LZ4 frame format) that chunk-compression.ts uses.
declare module 'lz4js' {
  /** An LZ4 frame holding `src`. */
  export function compress(src: Uint8Array, maxSize?: number): Uint8Array;
  /** The bytes of an LZ4 frame; `maxSize` bounds the output. */
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array;
}
