/** What the TAESD thread is started with. */
export interface TaesdThreadData {
  readonly file: string;
  readonly intraOpThreads: number;
}

/** One image's latents [1, 4, h, w] to decode. */
export interface TaesdRequest {
  readonly id: number;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export type TaesdReply =
  | { readonly type: 'ready' }
  | { readonly type: 'failed'; readonly message: string }
  | {
      readonly type: 'decoded';
      readonly id: number;
      readonly width: number;
      readonly height: number;
      readonly rgb: Uint8Array;
    }
  | { readonly type: 'error'; readonly id: number; readonly message: string };
