% A 3 x 3 same convolution without a batch index, then tanh: with --gemm
% all three contractions take the Winograd path (conv3x3 for the value and
% the input gradient, conv3x3_filter for the weight gradient), the input
% gradient reading the local adjoint of x rather than a seed.
input y_{c,p,q}, 0 \le c < C, 0 \le p < H, 0 \le q < W
param w_{k,c,a,b}, 0 \le k < K, 0 \le c < C, 0 \le a < 3, 0 \le b < 3
x_{k,i,j} = \sum_{c,a,b} w_{k,c,a,b} y_{c,i+a-1,j+b-1}, 0 \le k < K, 0 \le i < H, 0 \le j < W
z_{k,i,j} = \tanh(x_{k,i,j})
output z
