import type * as TE from 'fp-ts/TaskEither'
import type { ReplyContext } from './reply-rules'

/*
 * A reply written by a language model: a port, so that the send never knows
 * whose model it is (any OpenAI-compatible chat endpoint: OpenAI, a local
 * llama.cpp or Ollama server, a gateway). What it returns is the model's
 * text as it came; the caller bounds and stores it.
 */

export type ModelFailure = { readonly _tag: 'ModelFailed'; readonly reason: string }

export type ReplyModel = {
  /** The model's reply to a message, or why there is none (a timeout, an error, an empty answer). Never rejects. */
  readonly reply: (context: ReplyContext) => TE.TaskEither<ModelFailure, string>
}
