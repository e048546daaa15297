export { EpisodeWriter } from './episode-writer.js';
export type { CameraInfo, EpisodeMeta, RecordedFrame, TickRecord } from './episode-writer.js';
export { EpisodeFileError, readEpisode } from './episode-reader.js';
export type { Episode, EpisodeFrames } from './episode-reader.js';
export {
  EPISODE_METADATA_NAME, TOPIC_ACTION, TOPIC_JOINT_STATE, cameraTopic,
} from './schemas.js';
