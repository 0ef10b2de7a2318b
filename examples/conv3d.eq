% A single-channel 3-D convolution with a 2x2x2 kernel and a tanh.
% test-sizes: D=4, H=4, W=5
input v_{p,q,r}, 0 \le p < D, 0 \le q < H, 0 \le r < W
param w_{a,b,c}, 0 \le a < 2, 0 \le b < 2, 0 \le c < 2
u_{i,j,k} = \tanh\left( \sum_{a,b,c} w_{a,b,c} v_{i+a,j+b,k+c} \right)
