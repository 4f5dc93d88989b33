import type { ButtonHTMLAttributes } from 'react';

type Variant = 'primary' | 'secondary' | 'danger' | 'ghost';
const styles: Record<Variant, string> = {
  primary: 'bg-sky-700 text-white hover:bg-sky-600 border-sky-500',
  secondary: 'bg-slate-800 text-slate-100 hover:bg-slate-700 border-slate-600',
  danger: 'bg-rose-700 text-white hover:bg-rose-600 border-rose-600',
  ghost: 'bg-transparent text-slate-300 hover:bg-slate-800 border-transparent',
};

export function Button({
  variant = 'secondary',
  size = 'md',
  busy,
  className = '',
  children,
  ...rest
}: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant; size?: 'sm' | 'md'; busy?: boolean }) {
  return (
    <button
      type="button"
      {...rest}
      aria-busy={busy || undefined}
      className={`inline-flex items-center gap-1.5 rounded border font-medium transition-colors focus-visible:outline-2 focus-visible:outline-offset-1 focus-visible:outline-sky-400 disabled:cursor-not-allowed disabled:opacity-40 ${
        size === 'sm' ? 'px-2 py-0.5 text-xs' : 'px-3 py-1.5 text-sm'
      } ${styles[variant]} ${className}`}
    >
      {busy && <span className="inline-block h-3 w-3 animate-spin rounded-full border-2 border-current border-t-transparent" aria-hidden />}
      {children}
    </button>
  );
}
