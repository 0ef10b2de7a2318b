% Uneven zero padding, a dilated column tap and a bias, then tanh: the
% padded copies must reach two rows up and one column left, and the bias
% and the pointwise term stay outside the calls.
input y_{n,c,p,q}, 0 \le n < N, 0 \le c < C, 0 \le p < H, 0 \le q < W
param w_{k,c,a,b}, 0 \le k < K, 0 \le c < C, 0 \le a < 3, 0 \le b < 2
param v_k, 0 \le k < K
x_{n,k,i,j} = \sum_{c,a,b} w_{k,c,a,b} y_{n,c,i+a-2,j+2b-1} + v_k, 0 \le n < N, 0 \le k < K, 0 \le i < H, 0 \le j < W
z_{n,k,i,j} = \tanh(x_{n,k,i,j})
output z
