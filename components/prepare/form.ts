// The wizard's form: what is typed (strings, as the inputs hold them), its defaults, which fields each
// step owns, and the one conversion to the shared schema's input.
import { parsePorts } from '@/lib/client/ports';

export const STEPS = ['Image and size', 'Warm-up', 'Quiesce', 'Slots', 'Review'] as const;
export const STEP_FIELDS: string[][] = [['image', 'name', 'memory', 'vcpus', 'bootTimeout'], ['warmup', 'ports'], ['quiesce', 'keepParent'], ['slots', 'prelaunch'], []];

export const DEFAULT_WARMUP = 'httpd -p 8080 -h /www && echo httpd started on port 8080';
export const FIELD = 'mt-1 block w-full rounded border border-slate-600 bg-slate-950 px-2 py-1.5 text-slate-100 disabled:opacity-50';

export interface Form {
  image: string;
  name: string;
  memory: string;
  vcpus: string;
  warmup: string[];
  quiesce: boolean;
  keepParent: boolean;
  slots: string;
  prelaunch: boolean;
  /** guest ports to forward, as typed: "80, 8080, 22" */
  ports: string;
  /** seconds to wait for the guest agent (imported images; empty: the server's default) */
  bootTimeout: string;
}

export const DEFAULT_FORM: Form = {
  image: 'tiny',
  name: '', // a random default is chosen after hydration (server and browser would pick different ones)
  memory: '256',
  vcpus: '1',
  warmup: [DEFAULT_WARMUP],
  quiesce: true,
  keepParent: false,
  slots: '4',
  prelaunch: false,
  ports: '80, 8080, 22',
  bootTimeout: '',
};

export function toInput(f: Form) {
  const num = (s: string) => (s.trim() === '' ? undefined : Number(s));
  return {
    image: f.image,
    name: f.name,
    memory: num(f.memory),
    vcpus: num(f.vcpus),
    warmup: f.warmup.filter((w) => w.trim() !== ''),
    quiesce: f.quiesce,
    keepParent: f.keepParent,
    slots: num(f.slots),
    prelaunch: f.prelaunch,
    ports: parsePorts(f.ports),
    bootTimeout: num(f.bootTimeout),
  };
}

/** What one step's component gets: the form, a setter, and the errors of the last check. */
export interface StepProps {
  form: Form;
  set: <K extends keyof Form>(k: K, v: Form[K]) => void;
  errors: Record<string, string>;
}
