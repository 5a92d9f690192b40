import type { PushMethodBody } from "./push-method";

/**
 * ApplyChanges (OPC 10000-12 §7.10.9): installs the caller's transaction (trust list, then
 * certificate and key) and answers Good; then, once the answer has left, drops the channels (all
 * of them after a new certificate). Without a transaction there is nothing to do: Good.
 * Bad_TransactionPending: another session's transaction is open.
 */
export const applyChanges: PushMethodBody = async (_args, context, state) => {
  await state.apply(context, state.options.actorOf(context));
  return [];
};

/** CancelChanges (OPC 10000-12 §7.10.10 in 1.05): forgets the caller's transaction. */
export const cancelChanges: PushMethodBody = async (_args, context, state) => {
  state.cancel(context);
  return [];
};
