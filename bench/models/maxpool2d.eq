% Benchmark workload (issue 5): 2x2 max pooling, stride 2, NCHW, no
% padding (output range H/2 x W/2 inferred from the reads). The adjoint goes
% to the first maximal element of each window.
% Bench shape: N=8, C=64, H=W=112.
% test-sizes: N=2, C=2, H=6, W=4
input x_{n,c,p,q}, 0 \le n < N, 0 \le c < C, 0 \le p < H, 0 \le q < W
y_{n,c,i,j} = \max_{0 \le a < 2, 0 \le b < 2} x_{n,c,2i+a,2j+b}
output y
