input A_{b,i,k}, 0 \le b < B, 0 \le i < m, 0 \le k < r
input C_{b,k,j}, 0 \le b < B, 0 \le k < r, 0 \le j < n
X_{b,i,j} = \sum_k A_{b,i,k} C_{b,k,j}
S_{b,i,j} = \sum_k A_{b,i,k} A_{b,j,k}
output X, S
