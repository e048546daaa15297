// Camera sources for real set-ups: ROS image topics (through rosbridge) and local V4L2 devices (ffmpeg).
export { CameraError, type CameraImage, type CameraSource, frameAgeMs } from './camera-source.js';
export { FfmpegCamera, type FfmpegCameraOptions, lavfiTestInputArgs, v4l2InputArgs } from './ffmpeg-camera.js';
export { RawFrameSplitter } from './raw-frame-splitter.js';
export { RosImageCamera, type RosImageCameraOptions } from './ros-image-camera.js';
