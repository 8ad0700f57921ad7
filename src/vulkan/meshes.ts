// The orbit scene's meshes, built once on the CPU: a ground plane, a cube, a torus and a sphere in one
// vertex and index buffer, each a named index range.

export type MeshName = "plane" | "cube" | "torus" | "sphere";

export class MeshBuilder {
  /** position xyz, normal xyz per vertex */
  private vertexFloats: number[] = [];
  private indices: number[] = [];
  /** Each mesh's range of `indices`. */
  readonly ranges = new Map<MeshName, { first: number; count: number }>();

  private vertex(p: readonly number[], n: readonly number[]): number {
    this.vertexFloats.push(p[0]!, p[1]!, p[2]!, n[0]!, n[1]!, n[2]!);
    return this.vertexFloats.length / 6 - 1;
  }

  private begin(): number {
    return this.indices.length;
  }
  private end(name: MeshName, first: number): void {
    this.ranges.set(name, { first, count: this.indices.length - first });
  }

  plane(half: number): void {
    const first = this.begin();
    const n = [0, 1, 0];
    const a = this.vertex([-half, 0, -half], n);
    const b = this.vertex([-half, 0, half], n);
    const c = this.vertex([half, 0, half], n);
    const d = this.vertex([half, 0, -half], n);
    this.indices.push(a, b, c, a, c, d); // counter-clockwise seen from above
    this.end("plane", first);
  }

  cube(): void {
    const first = this.begin();
    const faces: [number[], number[], number[]][] = [
      // normal, u, v with u x v = normal (counter-clockwise seen from outside)
      [[1, 0, 0], [0, 0, -1], [0, 1, 0]],
      [[-1, 0, 0], [0, 0, 1], [0, 1, 0]],
      [[0, 1, 0], [1, 0, 0], [0, 0, -1]],
      [[0, -1, 0], [1, 0, 0], [0, 0, 1]],
      [[0, 0, 1], [1, 0, 0], [0, 1, 0]],
      [[0, 0, -1], [-1, 0, 0], [0, 1, 0]],
    ];
    for (const [n, u, v] of faces) {
      const corner = (su: number, sv: number) =>
        this.vertex([0, 1, 2].map((k) => 0.5 * (n[k]! + su * u[k]! + sv * v[k]!)), n);
      const a = corner(-1, -1);
      const b = corner(1, -1);
      const c = corner(1, 1);
      const d = corner(-1, 1);
      this.indices.push(a, b, c, a, c, d);
    }
    this.end("cube", first);
  }

  torus(major: number, minor: number, segments: number, sides: number): void {
    const first = this.begin();
    const base = this.vertexFloats.length / 6;
    for (let i = 0; i <= segments; i++) {
      const u = (i / segments) * Math.PI * 2;
      for (let j = 0; j <= sides; j++) {
        const w = (j / sides) * Math.PI * 2;
        const n = [Math.cos(u) * Math.cos(w), Math.sin(w), Math.sin(u) * Math.cos(w)];
        const p = [Math.cos(u) * (major + minor * Math.cos(w)), minor * Math.sin(w), Math.sin(u) * (major + minor * Math.cos(w))];
        this.vertex(p, n);
      }
    }
    const row = sides + 1;
    for (let i = 0; i < segments; i++)
      for (let j = 0; j < sides; j++) {
        const a = base + i * row + j;
        const b = a + row;
        this.indices.push(a, a + 1, b, b, a + 1, b + 1);
      }
    this.end("torus", first);
  }

  sphere(segments: number, rings: number): void {
    const first = this.begin();
    const base = this.vertexFloats.length / 6;
    for (let r = 0; r <= rings; r++) {
      const phi = (r / rings) * Math.PI;
      for (let s = 0; s <= segments; s++) {
        const theta = (s / segments) * Math.PI * 2;
        const n = [Math.sin(phi) * Math.cos(theta), Math.cos(phi), Math.sin(phi) * Math.sin(theta)];
        this.vertex(n, n);
      }
    }
    const row = segments + 1;
    for (let r = 0; r < rings; r++)
      for (let s = 0; s < segments; s++) {
        const a = base + r * row + s;
        const b = a + row;
        this.indices.push(a, a + 1, b, b, a + 1, b + 1);
      }
    this.end("sphere", first);
  }

  build(): { vertices: Float32Array; indices: Uint32Array } {
    return { vertices: new Float32Array(this.vertexFloats), indices: new Uint32Array(this.indices) };
  }
}
