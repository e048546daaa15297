export type { Episode, EpisodeFrames, ReadOptions } from './episode-reader.js';
export { EpisodeFileError, readEpisode } from './episode-reader.js';
export type { RecoveredInfo } from './episode-recovery.js';
export { recoveredLine } from './episode-recovery.js';
export type {
  CameraInfo,
  DecisionRecord,
  EpisodeMeta,
  EpisodeResult,
  RecordedFrame,
  TickRecord,
  WriterOptions,
} from './episode-writer.js';
export { CHUNK_FLUSH_BYTES, CHUNK_FLUSH_S, EpisodeWriter } from './episode-writer.js';
export {
  EPISODE_DRIVERS,
  type EpisodeDriver,
  profileSha256,
  type ReplayMeta,
  SIM_START_FIELDS,
  type SimStartState,
  sha256,
} from './replay-meta.js';
export {
  cameraTopic,
  EPISODE_FORMAT_VERSION,
  EPISODE_METADATA_NAME,
  EPISODE_OUTCOMES,
  EPISODE_START_METADATA_NAME,
  type EpisodeOutcomeName,
  legacyCameraTopic,
  type TickClock,
  TOPIC_ACTION,
  TOPIC_JOINT_STATE,
  TOPIC_RL_DECISION,
} from './schemas.js';
