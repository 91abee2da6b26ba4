// The architectures bertrt runs, one entry each: the config.json model_type values it answers to, the prefix its
// task checkpoints put before the base model's tensors, how its tensor names map onto the encoder's (BERT's
// names: the native engine binds those), and what its config adds to BERT's (position scheme, relative
// attention). config.ts reads the config through this table, safetensors.ts maps the names, the task heads look
// their tensors up through it: one place to add the next family.
export type PositionScheme = 'absolute' | 'padding' | 'rotary';

export interface Family {
  /** what the README and error messages call it */
  readonly name: string;
  readonly modelTypes: readonly string[];
  /** base_model_prefix in transformers: "bert." in BertForMaskedLM's "bert.encoder.layer.0..." */
  readonly prefix: string;
  /** other prefixes the same checkpoints come with (GTE's remote-code "new.") */
  readonly altPrefixes?: readonly string[];
  /** checkpoint name (prefix removed) → encoder name, applied in order; names that match none pass as they are */
  readonly names: ReadonlyArray<readonly [RegExp, string]>;
  /** 'absolute': positions 0, 1, ... (BERT). 'padding': RoBERTa's, from pad_token_id + 1, skipping pad tokens.
   *  'rotary': no position table, RoPE in the attention (ModernBERT). */
  readonly positions: PositionScheme;
  /** config.json's token-type table size when it says none; 0: the architecture has no token types */
  readonly typeVocabDefault: number;
  /** MPNet: relative-position buckets (config relative_attention_num_buckets; max distance fixed at 128) */
  readonly relativeAttention: boolean;
  /** where the task heads' tensors are in this family's checkpoints (looked up with or without the prefix) */
  readonly heads: Heads;
  /** ALBERT, ELECTRA: config embedding_size; narrower embeddings are projected to hidden_size (embeddings.project) */
  readonly factorized?: boolean;
  /** ALBERT: config num_hidden_groups; layers share their group's weights (encoder.layer.<group>) */
  readonly sharedLayers?: boolean;
  /** ModernBERT's block (pre-norm, Wqkv, GeGLU, RoPE, sliding-window layers, final norm): its own config fields and
   *  tensor names (native BertConfig::modern) */
  readonly modern?: boolean;
  /** DeBERTa-v2/v3's disentangled attention (content-to-position and position-to-content over log-bucketed
   *  relative positions, encoder.rel_embeddings) */
  readonly disentangled?: boolean;
  /** NomicBERT, GTE: BERT's post-norm block with RoPE instead of a position table, a gated FFN (the activated
   *  projection as intermediate.dense, the multiplier as intermediate.up) and biases as the config says */
  readonly rotary?: boolean;
  /** fused checkpoint tensors (after `names`) cut along their first dimension into equal parts: the name pattern and
   *  the parts' names, in order (a Wqkv [3H][H] into query, key, value) */
  readonly split?: ReadonlyArray<readonly [RegExp, readonly string[]]>;
}

/** The activation of a head's dense layer: a fixed one, or the config's classifier_activation (ModernBERT) or
 *  hidden_act (BERT's and ALBERT's MLM transforms). */
export type HeadActivation = 'tanh' | 'relu' | 'gelu' | 'classifier_activation' | 'hidden_act' | 'pooler_hidden_act';

/** A family's task heads; one that is absent is refused naming the family (E_UNSUPPORTED). Biases a checkpoint
 *  leaves out (ModernBERT's classifier_bias / norm_bias false) are zeros where `optionalBiases`. */
export interface Heads {
  /** sequence classification: the first token's hidden state (or, with pool 'classifier_pooling', the config's
   *  choice of the first token or the mean over all tokens), dense, activation, LayerNorm if `norm`, output layer */
  readonly sequence?: {
    readonly pool?: 'first' | 'classifier_pooling';
    readonly dense: string;
    readonly act: HeadActivation;
    readonly norm?: string;
    readonly out: string;
  };
  /** token classification: a transform (dense, activation, LayerNorm) before the per-token classifier, if any */
  readonly token?: { readonly dense: string; readonly act: HeadActivation; readonly norm: string };
  /** the MLM head: dense, GELU (the config's hidden_act, erf's where `erf`: transformers hard-codes it for
   *  RoBERTa, MPNet and ELECTRA; `act` names another), LayerNorm (eps: the config's), then the decoder (tied to the
   *  word embeddings unless config.json unties it) plus its bias; its width is the word embeddings' */
  readonly mlm?: { readonly dense: string; readonly norm: string; readonly bias: string; readonly decoder: string; readonly erf?: boolean; readonly act?: HeadActivation };
  readonly optionalBiases?: boolean;
}

const BERT_HEADS: Heads = {
  sequence: { dense: 'pooler.dense', act: 'tanh', out: 'classifier' },
  mlm: { dense: 'cls.predictions.transform.dense', norm: 'cls.predictions.transform.LayerNorm', bias: 'cls.predictions.bias', decoder: 'cls.predictions.decoder.weight' },
};
/** RobertaClassificationHead (also MPNet's): dense + tanh over <s>, then out_proj; RobertaLMHead (also MPNet's). */
const ROBERTA_HEADS: Heads = {
  sequence: { dense: 'classifier.dense', act: 'tanh', out: 'classifier.out_proj' },
  mlm: { dense: 'lm_head.dense', norm: 'lm_head.layer_norm', bias: 'lm_head.bias', decoder: 'lm_head.decoder.weight', erf: true },
};

/** A layer module's name (regex source `from`, after `<stack>.<l>.`) mapped to the encoder's `encoder.layer.<l>.<to>`. */
const layer = (from: string, to: string, stack = 'encoder\\.layer'): readonly [RegExp, string] => [new RegExp(`^${stack}\\.(\\d+)\\.${from}`), `encoder.layer.$1.${to}`];
/** Several of them under one stack. */
const layers = (stack: string, pairs: ReadonlyArray<readonly [string, string]>) => pairs.map(([from, to]) => layer(from, to, stack));

const BERT: Family = { name: 'BERT', modelTypes: ['bert'], prefix: 'bert.', names: [], positions: 'absolute', typeVocabDefault: 2, relativeAttention: false, heads: BERT_HEADS };

/** RoBERTa, XLM-RoBERTa and CamemBERT checkpoints hold BERT's module names under "roberta."; they differ in the
 *  positions (from padding_idx + 1) and in having one token type. */
const ROBERTA: Family = {
  name: 'RoBERTa / XLM-RoBERTa / CamemBERT',
  modelTypes: ['roberta', 'xlm-roberta', 'camembert'],
  prefix: 'roberta.',
  names: [],
  positions: 'padding',
  typeVocabDefault: 1,
  relativeAttention: false,
  heads: ROBERTA_HEADS,
};

/** MPNet: BERT's block with its attention's modules named q/k/v/o and the LayerNorm one level up; no token
 *  types; RoBERTa's positions; a relative-position bias shared by all layers. */
const MPNET: Family = {
  name: 'MPNet',
  modelTypes: ['mpnet'],
  prefix: 'mpnet.',
  names: [
    layer('attention\\.attn\\.q\\.', 'attention.self.query.'),
    layer('attention\\.attn\\.k\\.', 'attention.self.key.'),
    layer('attention\\.attn\\.v\\.', 'attention.self.value.'),
    layer('attention\\.attn\\.o\\.', 'attention.output.dense.'),
    layer('attention\\.LayerNorm\\.', 'attention.output.LayerNorm.'),
  ],
  positions: 'padding',
  typeVocabDefault: 0,
  relativeAttention: true,
  heads: ROBERTA_HEADS,
};

/** DistilBERT: the same post-LayerNorm block under other names, no token types. */
const DISTILBERT: Family = {
  name: 'DistilBERT',
  modelTypes: ['distilbert'],
  prefix: 'distilbert.',
  names: [
    [/^transformer\.layer\.(\d+)\.attention\.q_lin\./, 'encoder.layer.$1.attention.self.query.'],
    [/^transformer\.layer\.(\d+)\.attention\.k_lin\./, 'encoder.layer.$1.attention.self.key.'],
    [/^transformer\.layer\.(\d+)\.attention\.v_lin\./, 'encoder.layer.$1.attention.self.value.'],
    [/^transformer\.layer\.(\d+)\.attention\.out_lin\./, 'encoder.layer.$1.attention.output.dense.'],
    [/^transformer\.layer\.(\d+)\.sa_layer_norm\./, 'encoder.layer.$1.attention.output.LayerNorm.'],
    [/^transformer\.layer\.(\d+)\.ffn\.lin1\./, 'encoder.layer.$1.intermediate.dense.'],
    [/^transformer\.layer\.(\d+)\.ffn\.lin2\./, 'encoder.layer.$1.output.dense.'],
    [/^transformer\.layer\.(\d+)\.output_layer_norm\./, 'encoder.layer.$1.output.LayerNorm.'],
  ],
  positions: 'absolute',
  typeVocabDefault: 0,
  relativeAttention: false,
  heads: {
    sequence: { dense: 'pre_classifier', act: 'relu', out: 'classifier' },
    mlm: { dense: 'vocab_transform', norm: 'vocab_layer_norm', bias: 'vocab_projector.bias', decoder: 'vocab_projector.weight' },
  },
};

/** ALBERT: factorized embeddings (embedding_hidden_mapping_in), one layer's weights shared by every layer of a group
 *  (albert_layer_groups.<g>.albert_layers.0, each module under its own name), GELU's tanh form (gelu_new). */
const ALBERT: Family = {
  name: 'ALBERT',
  modelTypes: ['albert'],
  prefix: 'albert.',
  names: [
    [/^encoder\.embedding_hidden_mapping_in\./, 'embeddings.project.'],
    // (each group's one layer: albert_layer_groups.<g>.albert_layers.0)
    ...layers('encoder\\.albert_layer_groups', ([
      ['attention\\.query\\.', 'attention.self.query.'],
      ['attention\\.key\\.', 'attention.self.key.'],
      ['attention\\.value\\.', 'attention.self.value.'],
      ['attention\\.dense\\.', 'attention.output.dense.'],
      ['attention\\.LayerNorm\\.', 'attention.output.LayerNorm.'],
      ['ffn\\.', 'intermediate.dense.'],
      ['ffn_output\\.', 'output.dense.'],
      ['full_layer_layer_norm\\.', 'output.LayerNorm.'],
    ] as const).map(([from, to]) => [`albert_layers\\.0\\.${from}`, to] as const)),
  ],
  positions: 'absolute',
  typeVocabDefault: 2,
  relativeAttention: false,
  factorized: true,
  sharedLayers: true,
  heads: {
    sequence: { dense: 'pooler', act: 'tanh', out: 'classifier' },
    mlm: { dense: 'predictions.dense', norm: 'predictions.LayerNorm', bias: 'predictions.bias', decoder: 'predictions.decoder.weight' },
  },
};

/** ELECTRA's discriminator (and generator): BERT's encoder, embeddings projected when embedding_size differs from
 *  hidden_size; its classification head applies GELU, not tanh. */
const ELECTRA: Family = {
  name: 'ELECTRA',
  modelTypes: ['electra'],
  prefix: 'electra.',
  names: [[/^embeddings_project\./, 'embeddings.project.']],
  positions: 'absolute',
  typeVocabDefault: 2,
  relativeAttention: false,
  factorized: true,
  heads: {
    sequence: { dense: 'classifier.dense', act: 'gelu', out: 'classifier.out_proj' },
    mlm: { dense: 'generator_predictions.dense', norm: 'generator_predictions.LayerNorm', bias: 'generator_lm_head.bias', decoder: 'generator_lm_head.weight', erf: true },
  },
};

/** ModernBERT: no position table (RoPE, a global and a local theta), pre-LayerNorm without biases, a fused Wqkv, a
 *  GeGLU MLP, every global_attn_every_n_layers-th layer global and the rest a local_attention-token sliding window, a
 *  final LayerNorm. Its heads put a dense + activation + LayerNorm transform before the output layers. */
const MODERNBERT: Family = {
  name: 'ModernBERT',
  modelTypes: ['modernbert'],
  prefix: 'model.',
  names: [
    [/^embeddings\.tok_embeddings\./, 'embeddings.word_embeddings.'],
    [/^embeddings\.norm\./, 'embeddings.LayerNorm.'],
    [/^layers\.(\d+)\./, 'encoder.layer.$1.'],
    [/^final_norm\./, 'encoder.final_norm.'],
  ],
  positions: 'rotary',
  typeVocabDefault: 0,
  relativeAttention: false,
  modern: true,
  // ModernBertPredictionHead (dense, classifier_activation, norm) before each task's output layer
  heads: {
    sequence: { pool: 'classifier_pooling', dense: 'head.dense', act: 'classifier_activation', norm: 'head.norm', out: 'classifier' },
    token: { dense: 'head.dense', act: 'classifier_activation', norm: 'head.norm' },
    mlm: { dense: 'head.dense', norm: 'head.norm', bias: 'decoder.bias', decoder: 'decoder.weight', act: 'classifier_activation' },
    optionalBiases: true,
  },
};

/** DeBERTa-v2 and v3 (mDeBERTa): BERT's post-LayerNorm block with query_proj/key_proj/value_proj and the
 *  disentangled attention; no absolute positions unless position_biased_input; ContextPooler (dense +
 *  pooler_hidden_act) before the classifier. */
const DEBERTA_V2: Family = {
  name: 'DeBERTa-v2',
  modelTypes: ['deberta-v2'],
  prefix: 'deberta.',
  names: [
    layer('attention\\.self\\.query_proj\\.', 'attention.self.query.'),
    layer('attention\\.self\\.key_proj\\.', 'attention.self.key.'),
    layer('attention\\.self\\.value_proj\\.', 'attention.self.value.'),
  ],
  positions: 'absolute',
  typeVocabDefault: 0,
  relativeAttention: false,
  disentangled: true,
  heads: { sequence: { dense: 'pooler.dense', act: 'pooler_hidden_act', out: 'classifier' } },
};

/** The rotary post-norm layer's modules as transformers 5 names them (NomicBertModel, GteModel: layers.<l>.self_attn,
 *  post_attention_layernorm, mlp.{gate,up,down}_proj, post_mlp_layernorm), mapped onto the encoder's. */
const ROTARY_LAYER = layers('layers', [
  ['self_attn\\.q_proj\\.', 'attention.self.query.'],
  ['self_attn\\.k_proj\\.', 'attention.self.key.'],
  ['self_attn\\.v_proj\\.', 'attention.self.value.'],
  ['self_attn\\.o_proj\\.', 'attention.output.dense.'],
  ['post_attention_layernorm\\.', 'attention.output.LayerNorm.'],
  ['mlp\\.gate_proj\\.', 'intermediate.dense.'],
  ['mlp\\.up_proj\\.', 'intermediate.up.'],
  ['mlp\\.down_proj\\.', 'output.dense.'],
  ['post_mlp_layernorm\\.', 'output.LayerNorm.'],
]);
const QKV_SPLIT = [/^(encoder\.layer\.\d+\.attention\.self\.)qkv\.(weight|bias)$/, ['$1query.$2', '$1key.$2', '$1value.$2']] as const;

/** NomicBERT (nomic-embed-text-v1/v1.5): RoPE, SwiGLU (act(gate) * up, SiLU), no biases in its linear layers, token
 *  types. Its tensors under transformers 5's names, or under the Hub's remote-code names (emb_ln, encoder.layers.<l>.
 *  attn.Wqkv / out_proj, mlp.fc11 = up, fc12 = gate, fc2, norm1, norm2), mapped as transformers' conversion_mapping.py
 *  maps them. Heads: BERT's (pooler + classifier, the token classifier, cls.predictions with a layer_norm). */
const NOMIC_BERT: Family = {
  name: 'NomicBERT',
  modelTypes: ['nomic_bert'],
  prefix: 'nomic_bert.',
  names: [
    ...ROTARY_LAYER,
    [/^emb_ln\./, 'embeddings.LayerNorm.'],
    ...layers('encoder\\.layers', [
      ['attn\\.Wqkv\\.', 'attention.self.qkv.'],
      ['attn\\.out_proj\\.', 'attention.output.dense.'],
      ['mlp\\.fc11\\.', 'intermediate.up.'],
      ['mlp\\.fc12\\.', 'intermediate.dense.'],
      ['mlp\\.fc2\\.', 'output.dense.'],
      ['norm1\\.', 'attention.output.LayerNorm.'],
      ['norm2\\.', 'output.LayerNorm.'],
    ]),
  ],
  split: [QKV_SPLIT],
  positions: 'rotary',
  typeVocabDefault: 2,
  relativeAttention: false,
  rotary: true,
  heads: {
    sequence: { dense: 'pooler.dense', act: 'tanh', out: 'classifier' },
    mlm: { dense: 'cls.predictions.transform.dense', norm: 'cls.predictions.transform.layer_norm', bias: 'cls.predictions.bias', decoder: 'cls.predictions.decoder.weight' },
  },
};

/** GTE v1.5 / gte-multilingual ("NewModel"): RoPE (theta 160,000 unless the config says; NTK scaling from its
 *  rope_scaling), GeGLU (act(gate) * up), biases on Q/K/V, the attention output and the FFN's output, 0 or 1 token
 *  types. transformers 5's names, or the Hub's remote-code names (prefix new., encoder.layer.<l>.attention.qkv_proj /
 *  o_proj, attn_ln, mlp.up_gate_proj = [up; gate], mlp.down_proj, mlp_ln), mapped as conversion_mapping.py does.
 *  Heads: pooler + classifier (rerankers), the token classifier. */
const GTE: Family = {
  name: 'GTE',
  modelTypes: ['gte', 'new'],
  prefix: 'gte.',
  altPrefixes: ['new.'],
  names: [
    ...ROTARY_LAYER,
    layer('attention\\.qkv_proj\\.', 'attention.self.qkv.'),
    layer('attention\\.o_proj\\.', 'attention.output.dense.'),
    layer('attn_ln\\.', 'attention.output.LayerNorm.'),
    layer('mlp\\.up_gate_proj\\.', 'intermediate.up_gate.'),
    layer('mlp\\.down_proj\\.', 'output.dense.'),
    layer('mlp_ln\\.', 'output.LayerNorm.'),
  ],
  split: [QKV_SPLIT, [/^(encoder\.layer\.\d+\.intermediate\.)up_gate\.(weight|bias)$/, ['$1up.$2', '$1dense.$2']]],
  positions: 'rotary',
  typeVocabDefault: 0,
  relativeAttention: false,
  rotary: true,
  heads: { sequence: { dense: 'pooler.dense', act: 'tanh', out: 'classifier' } },
};

export const FAMILIES: readonly Family[] = [BERT, ROBERTA, MPNET, ALBERT, ELECTRA, DISTILBERT, MODERNBERT, DEBERTA_V2, NOMIC_BERT, GTE];

const BY_TYPE = new Map(FAMILIES.flatMap((f) => f.modelTypes.map((t) => [t, f] as const)));

export function familyOf(modelType: string): Family | undefined {
  return BY_TYPE.get(modelType);
}

export const SUPPORTED_MODEL_TYPES: readonly string[] = FAMILIES.flatMap((f) => f.modelTypes);

/** LayerNorm parameters saved under TensorFlow's names (old BERT ports), renamed as transformers renames them. */
export function modernName(name: string): string {
  if (name.endsWith('LayerNorm.gamma')) return `${name.slice(0, -5)}weight`;
  if (name.endsWith('LayerNorm.beta')) return `${name.slice(0, -4)}bias`;
  return name;
}

/** A checkpoint tensor's name as the encoder knows it: legacy LayerNorm names renamed, the family's prefix
 *  removed, its module names mapped (a fused tensor's name then names it whole: see splitName). */
export function encoderName(f: Family, name: string): string {
  let n = modernName(name);
  const prefix = [f.prefix, ...(f.altPrefixes ?? [])].find((p) => n.startsWith(p));
  if (prefix) n = n.slice(prefix.length);
  for (const [re, to] of f.names) n = n.replace(re, to);
  return n;
}

/** The names of the parts a fused tensor (by its encoder name) is cut into along its first dimension, or null. */
export function splitName(f: Family, name: string): string[] | null {
  for (const [re, parts] of f.split ?? []) if (re.test(name)) return parts.map((p) => name.replace(re, p));
  return null;
}
