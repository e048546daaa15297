// LeRobotDataset support: read a dataset folder (v3.0, v2.1, v2.0) episode by episode into the recording's Episode
// type, and export episodes as a v3.0 dataset that LeRobot loads and that reads back identical here.
export { type EpisodeRef, isDatasetFolder, type LeRobotDataset, openDataset } from './dataset.js';
export { ExportError, type ExportOptions, type ExportSource, type ExportSummary, exportLeRobot } from './export.js';
export { DatasetMappingError, type PlanOptions, planRead, type ReadPlan } from './feature-map.js';
export { CODEBASE_VERSION } from './layout.js';
export { readDatasetEpisode } from './reader.js';
export { CODEC_SETTINGS, DEFAULT_GOP, VIDEO_CODECS, type VideoCodecName } from './video.js';
