// A small builder for ONNX graphs written with onnx-proto: named inputs, initializers and nodes, then
// one ModelProto. Shared by the test-model writer and the exporter of trained policies.

import type { onnx as OnnxTypes } from 'onnx-proto';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;
export type AttributeProto = OnnxTypes.IAttributeProto;
type INode = OnnxTypes.INodeProto;
type ITensor = OnnxTypes.ITensorProto;
type IValueInfo = OnnxTypes.IValueInfoProto;

// IR 8 / opset 15 (ONNX 1.10, the schema onnx-proto carries); onnxruntime 1.30 reads both.
// ReduceMean still takes `axes` as an attribute at this opset.
export const IR_VERSION = 8;
export const OPSET = 15;

export class GraphBuilder {
  readonly nodes: INode[] = [];
  readonly inits: ITensor[] = [];
  readonly inputs: IValueInfo[] = [];
  readonly outputs: IValueInfo[] = [];
  private n = 0;

  /** `prefix` starts every node output's name: a graph spliced into another keeps its names apart. */
  constructor(private readonly prefix = '') {}

  input(name: string, type: number, dims: number[]): void {
    this.inputs.push(valueInfo(name, type, dims));
  }

  op(opType: string, inputs: string[], attribute: OnnxTypes.IAttributeProto[] = []): string {
    const out = `${this.prefix}${opType.toLowerCase()}_${this.n++}`;
    this.nodes.push({ opType, input: inputs, output: [out], attribute, name: out });
    return out;
  }

  float(name: string, dims: number[], values: ArrayLike<number>): string {
    const data = Float32Array.from(values);
    this.inits.push({ name, dims, dataType: DT.FLOAT, rawData: new Uint8Array(data.buffer) });
    return name;
  }

  /** The finished model; `metadata` becomes metadata_props. */
  model(name: string, producer: string, metadata: Record<string, string> = {}): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: producer,
      graph: { name, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }

  int64(name: string, values: number[]): string {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.inits.push({ name, dims: [values.length], dataType: DT.INT64, rawData: new Uint8Array(data.buffer) });
    return name;
  }
}

export function valueInfo(name: string, elemType: number, dims: number[]): IValueInfo {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } };
}

export function attrInt(name: string, i: number): OnnxTypes.IAttributeProto {
  return { name, type: AT.INT, i };
}

export function attrInts(name: string, ints: number[]): OnnxTypes.IAttributeProto {
  return { name, type: AT.INTS, ints };
}
