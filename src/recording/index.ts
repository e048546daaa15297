export type { Episode, EpisodeFrames } from './episode-reader.js';
export { EpisodeFileError, readEpisode } from './episode-reader.js';
export type { CameraInfo, EpisodeMeta, EpisodeResult, RecordedFrame, TickRecord } from './episode-writer.js';
export { EpisodeWriter } from './episode-writer.js';
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
  type EpisodeOutcomeName,
  legacyCameraTopic,
  type TickClock,
  TOPIC_ACTION,
  TOPIC_JOINT_STATE,
} from './schemas.js';
