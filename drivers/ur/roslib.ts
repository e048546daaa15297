// roslib 2.x as typed modules. Its published index declaration re-exports './src/RosLib' without a file
// extension, which TypeScript's NodeNext resolution cannot follow, so `import { Ros } from 'roslib'` has
// no types. The classes come from the package at run time; their declarations are imported by path
// (type-only: erased from the emitted JavaScript).
import * as roslib from 'roslib';
import type RosClass from '../../node_modules/roslib/dist/src/core/Ros.js';
import type ServiceClass from '../../node_modules/roslib/dist/src/core/Service.js';
import type TopicClass from '../../node_modules/roslib/dist/src/core/Topic.js';

const lib = roslib as unknown as { Ros: typeof RosClass; Topic: typeof TopicClass; Service: typeof ServiceClass };

export const Ros = lib.Ros;
export type Ros = RosClass;
export const Topic = lib.Topic;
export type Topic<T = unknown> = TopicClass<T>;
export const Service = lib.Service;
export type Service<TReq = unknown, TRes = unknown> = ServiceClass<TReq, TRes>;
