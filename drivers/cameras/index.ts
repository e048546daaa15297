// Camera sources for real set-ups: ROS image topics (through rosbridge) and local V4L2 devices (ffmpeg).
export { CameraError, frameAgeMs, type CameraImage, type CameraSource } from './camera-source.js';
export { RosImageCamera, type RosImageCameraOptions } from './ros-image-camera.js';
export { FfmpegCamera, lavfiTestInputArgs, v4l2InputArgs, type FfmpegCameraOptions } from './ffmpeg-camera.js';
export { RawFrameSplitter } from './raw-frame-splitter.js';
