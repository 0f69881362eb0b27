// A fix for nats.js 3.4's request path: every request that completes calls cancel(), which rejects its (already settled)
// promise with a new RequestError("cancelled") — a stack trace captured per request that nobody ever sees: 6.5% of a
// busy daemon's CPU (profiled, bench:control-plane placement). Rejecting with one shared error keeps the behaviour exactly
// (the promise still settles; a real cause passed to cancel is kept) without the capture.
import { RequestOne, RequestError } from '@nats-io/nats-core/internal';

const CANCELLED = new RequestError('cancelled');
const proto = RequestOne.prototype as unknown as { cancel(err?: Error): void; __hyperPatched?: boolean };
if (!proto.__hyperPatched) {
  const cancel = proto.cancel;
  proto.cancel = function (this: unknown, err?: Error) {
    cancel.call(this, err ?? CANCELLED);
  };
  proto.__hyperPatched = true;
}
