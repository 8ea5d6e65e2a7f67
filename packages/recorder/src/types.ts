/**
 * One encoded picture: an H.264 access unit in Annex-B form (start codes, not length
 * prefixes), paired with the capture timestamps of the frame it encodes.
 *
 * Every keyframe unit carries its SPS and PPS in band (the encoder inserts them when the
 * hardware encoder sends them only once), so any keyframe can start a clip on its own.
 */
export interface AccessUnit {
  /** `seq` of the encoded frame (see `Frame.seq`). */
  readonly seq: number;
  /** Capture timestamp of the encoded frame, microseconds on the source's monotonic clock. */
  readonly ptsUs: number;
  /** Wall-clock capture time of the encoded frame, milliseconds since the epoch. */
  readonly wallMs: number;
  /** True for an IDR picture (a clip may start here). */
  readonly keyframe: boolean;
  /** The Annex-B bytes of the whole access unit (AUD, parameter sets, SEI, slices). */
  readonly data: Buffer;
  /** RFC 6381 codec string from the SPS in force, e.g. `avc1.42c01f` (for MP4 and MSE). */
  readonly codec: string;
  readonly width: number;
  readonly height: number;
}
