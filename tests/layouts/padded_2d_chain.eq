input y_{p,q}, 0 \le p < H, 0 \le q < W
param w_{a,b}, 0 \le a < 2, 0 \le b < 4
x_{i,j} = \sum_{a,b} w_{a,b} y_{i-a,j+b-2}, 0 \le i < H, 0 \le j < W
u_{i,j} = \tanh(x_{i,j}) x_{i,j-1}, 0 \le i < H, 0 \le j < W
E = \sum_{i,j} u_{i,j} u_{i,j}
output E
