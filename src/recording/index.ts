export type { Episode, EpisodeFrames } from './episode-reader.js';
export { EpisodeFileError, readEpisode } from './episode-reader.js';
export type { CameraInfo, EpisodeMeta, RecordedFrame, TickRecord } from './episode-writer.js';
export { EpisodeWriter } from './episode-writer.js';
export {
  cameraTopic,
  EPISODE_METADATA_NAME,
  TOPIC_ACTION,
  TOPIC_JOINT_STATE,
} from './schemas.js';
