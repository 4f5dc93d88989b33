// A field's message from the last check, tied to its input by id (`aria-describedby="KEY-error"`).
export function FieldError({ errors, k }: { errors: Record<string, string>; k: string }) {
  if (!errors[k]) return null;
  return (
    <p id={`${k}-error`} role="alert" className="mt-1 text-xs text-rose-300">
      {errors[k]}
    </p>
  );
}
