// Which binding builds which kind of driver. Bindings are imported on demand, so a sim run never loads
// roslib (nor an ALOHA run the UR code). A new kind: a member of DriverConfig and one entry here.
import type { DriverConfig, DriverKind } from '../control-protocol.js';
import type { BindingContext, DriverBinding } from './driver-binding.js';

type Binder<K extends DriverKind> = (cfg: Extract<DriverConfig, { kind: K }>, ctx: BindingContext) => Promise<DriverBinding>;

const BINDERS: { [K in DriverKind]: () => Promise<Binder<K>> } = {
  sim: async () => (await import('./sim-binding.js')).bindSimDriver,
  ur: async () => (await import('./ur-binding.js')).bindUrDriver,
  aloha: async () => (await import('./aloha-binding.js')).bindAlohaDriver,
};

export async function bindDriver(cfg: DriverConfig, ctx: BindingContext): Promise<DriverBinding> {
  const binder = (await BINDERS[cfg.kind]()) as Binder<typeof cfg.kind>;
  return binder(cfg as never, ctx);
}

export { DriverUnreachable, DriverSetupError, type DriverBinding, type DriverHealth, type BindingContext } from './driver-binding.js';
